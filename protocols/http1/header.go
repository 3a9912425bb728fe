package http1

// Field is one field line, as on the wire: the name keeps its case, the value
// is trimmed of optional whitespace.
type Field struct{ Name, Value []byte }

// Header is an ordered list of fields, case and order preserved. The zero
// value is ready to use. It reuses its storage after Reset, so a Header that
// is reset and refilled allocates nothing in steady state. Added names and
// values are copied into the Header's own storage, never aliasing the
// caller's memory.
type Header struct {
	fields []Field
	buf    []byte
}

// Reset empties h, keeping its storage.
func (h *Header) Reset() {}

// Len returns the number of fields.
func (h *Header) Len() int { return len(h.fields) }

// Fields returns the fields in order; valid until the next change to h.
func (h *Header) Fields() []Field { return h.fields }

// Get returns the first value of the field name (case-insensitive), or nil
// when there is none.
func (h *Header) Get(name string) []byte { return nil }

// Has reports whether a field name is present (case-insensitive).
func (h *Header) Has(name string) bool { return false }

// Count returns how many fields are named name (case-insensitive).
func (h *Header) Count(name string) int { return 0 }

// Add appends the field name: value.
func (h *Header) Add(name, value string) {}

// AddBytes appends the field name: value.
func (h *Header) AddBytes(name, value []byte) {}

// Set replaces every field named name: the first keeps its position and
// takes value, the others are removed; the field is appended when absent.
func (h *Header) Set(name, value string) {}

// Del removes every field named name and returns how many there were.
func (h *Header) Del(name string) int { return 0 }

// HasToken reports whether any field name holds token in its comma-separated
// list (case-insensitive), as in Connection: keep-alive, Upgrade.
func (h *Header) HasToken(name, token string) bool { return false }

// AppendTo appends "Name: Value\r\n" for each field to dst.
func (h *Header) AppendTo(dst []byte) []byte { return dst }

// CopyFrom makes h a deep copy of src.
func (h *Header) CopyFrom(src *Header) {}
