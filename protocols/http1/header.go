package http1

// Field is one field line, as on the wire: the name keeps its case, the value
// is trimmed of optional whitespace.
type Field struct{ Name, Value []byte }

// Header is an ordered list of fields, case and order preserved. The zero
// value is ready to use. It reuses its storage after Reset, so a Header that
// is reset and refilled allocates nothing in steady state. Added names and
// values are copied into the Header's own storage, never aliasing the
// caller's memory. Names and values are not validated: a caller adding
// fields is trusted to add valid ones.
//
// Storage freed by Set and Del is reclaimed only by Reset, so a Header edited
// many times without Reset grows by the bytes it was given.
type Header struct {
	fields []Field
	buf    []byte
}

// Reset empties h, keeping its storage. Slices from Fields and Get are
// invalid afterwards.
func (h *Header) Reset() {
	clear(h.fields)
	h.fields = h.fields[:0]
	h.buf = h.buf[:0]
}

// Len returns the number of fields.
func (h *Header) Len() int { return len(h.fields) }

// Fields returns the fields in order; valid until the next change to h. The
// caller must not modify them.
func (h *Header) Fields() []Field { return h.fields }

// Get returns the first value of the field name (case-insensitive), or nil
// when there is none. A present but empty field gives an empty non-nil slice.
func (h *Header) Get(name string) []byte {
	for i := range h.fields {
		if equalFold(h.fields[i].Name, name) {
			if h.fields[i].Value == nil {
				return []byte{} // zero-size: no allocation
			}
			return h.fields[i].Value
		}
	}
	return nil
}

// Has reports whether a field name is present (case-insensitive).
func (h *Header) Has(name string) bool { return h.index(name) >= 0 }

// index returns the position of the first field name, or -1.
func (h *Header) index(name string) int {
	for i := range h.fields {
		if equalFold(h.fields[i].Name, name) {
			return i
		}
	}
	return -1
}

// Count returns how many fields are named name (case-insensitive).
func (h *Header) Count(name string) int {
	n := 0
	for i := range h.fields {
		if equalFold(h.fields[i].Name, name) {
			n++
		}
	}
	return n
}

// Add appends the field name: value.
func (h *Header) Add(name, value string) {
	start := len(h.buf)
	h.buf = append(h.buf, name...)
	h.buf = append(h.buf, value...)
	h.fields = append(h.fields, Field{
		Name:  h.buf[start : start+len(name) : start+len(name)],
		Value: h.buf[start+len(name) : len(h.buf) : len(h.buf)],
	})
}

// AddBytes appends the field name: value.
func (h *Header) AddBytes(name, value []byte) {
	start := len(h.buf)
	h.buf = append(h.buf, name...)
	h.buf = append(h.buf, value...)
	h.fields = append(h.fields, Field{
		Name:  h.buf[start : start+len(name) : start+len(name)],
		Value: h.buf[start+len(name) : len(h.buf) : len(h.buf)],
	})
}

// Set replaces every field named name (case-insensitive): the first keeps
// its position and its name as written and takes value, the others are
// removed; the field is appended when absent.
func (h *Header) Set(name, value string) {
	i := h.index(name)
	if i < 0 {
		h.Add(name, value)
		return
	}
	start := len(h.buf)
	h.buf = append(h.buf, value...)
	h.fields[i].Value = h.buf[start:len(h.buf):len(h.buf)]
	h.delFrom(i+1, name)
}

// Del removes every field named name (case-insensitive) and returns how many
// there were.
func (h *Header) Del(name string) int { return h.delFrom(0, name) }

// delFrom removes the fields named name at or after position from.
func (h *Header) delFrom(from int, name string) int {
	out := from
	for i := from; i < len(h.fields); i++ {
		if !equalFold(h.fields[i].Name, name) {
			h.fields[out] = h.fields[i]
			out++
		}
	}
	n := len(h.fields) - out
	clear(h.fields[out:])
	h.fields = h.fields[:out]
	return n
}

// DelFunc removes every field whose name drop reports true for, keeping
// the order of the rest, and returns how many it removed. It is one pass,
// for removing several names at once.
func (h *Header) DelFunc(drop func(name []byte) bool) int {
	out := 0
	for i := range h.fields {
		if !drop(h.fields[i].Name) {
			h.fields[out] = h.fields[i]
			out++
		}
	}
	n := len(h.fields) - out
	clear(h.fields[out:])
	h.fields = h.fields[:out]
	return n
}

// HasToken reports whether any field name holds token in its comma-separated
// list (both case-insensitive), as in Connection: keep-alive, Upgrade.
func (h *Header) HasToken(name, token string) bool {
	for i := range h.fields {
		if !equalFold(h.fields[i].Name, name) {
			continue
		}
		for elem, rest, ok := nextListElem(h.fields[i].Value); ok; elem, rest, ok = nextListElem(rest) {
			if equalFold(elem, token) {
				return true
			}
		}
	}
	return false
}

// AppendTo appends "Name: Value\r\n" for each field to dst.
func (h *Header) AppendTo(dst []byte) []byte {
	for i := range h.fields {
		dst = append(dst, h.fields[i].Name...)
		dst = append(dst, ':', ' ')
		dst = append(dst, h.fields[i].Value...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// addLine appends a parsed field line with one copy: name is line[:nameEnd]
// and the value line[vStart:vEnd].
func (h *Header) addLine(line []byte, nameEnd, vStart, vEnd int) {
	start := len(h.buf)
	h.buf = append(h.buf, line...)
	b := h.buf[start:len(h.buf):len(h.buf)]
	h.fields = append(h.fields, Field{Name: b[:nameEnd:nameEnd], Value: b[vStart:vEnd:vEnd]})
}

// CopyFrom makes h a deep copy of src.
func (h *Header) CopyFrom(src *Header) {
	if src == h {
		return
	}
	h.Reset()
	for i := range src.fields {
		h.AddBytes(src.fields[i].Name, src.fields[i].Value)
	}
}
