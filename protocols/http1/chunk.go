package http1

import "strconv"

// AppendChunk appends p as one chunk (hex size CRLF p CRLF) to dst; nothing
// for an empty p, which would be the last chunk.
func AppendChunk(dst, p []byte) []byte {
	if len(p) == 0 {
		return dst
	}
	dst = strconv.AppendUint(dst, uint64(len(p)), 16)
	dst = append(dst, '\r', '\n')
	dst = append(dst, p...)
	return append(dst, '\r', '\n')
}

// AppendLastChunk appends the last chunk "0\r\n", the trailer fields
// (trailers may be nil) and the final CRLF to dst.
func AppendLastChunk(dst []byte, trailers *Header) []byte {
	dst = append(dst, '0', '\r', '\n')
	if trailers != nil {
		dst = trailers.AppendTo(dst)
	}
	return append(dst, '\r', '\n')
}
