package http1

// AppendChunk appends p as one chunk (hex size CRLF p CRLF) to dst; nothing
// for an empty p.
func AppendChunk(dst, p []byte) []byte { return dst }

// AppendLastChunk appends the last chunk "0\r\n", the trailers (may be nil)
// and the final CRLF to dst.
func AppendLastChunk(dst []byte, trailers *Header) []byte { return dst }
