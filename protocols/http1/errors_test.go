package http1

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestStatusOf checks every sentinel maps to its status, wrapped or not, and
// anything else to 0.
func TestStatusOf(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{ErrHeadTooLarge, 431}, {ErrLineTooLong, 431}, {ErrTooManyHeaders, 431}, {ErrTrailerTooLarge, 431},
		{ErrURITooLong, 414}, {ErrUnsupportedTransferCoding, 501}, {ErrBadVersion, 505},
		{ErrBadStartLine, 400}, {ErrBadField, 400}, {ErrObsFold, 400}, {ErrSpaceBeforeColon, 400},
		{ErrBadContentLength, 400}, {ErrBadTransferEncoding, 400}, {ErrTEWithContentLength, 400},
		{ErrTEOnHTTP10, 400}, {ErrMissingHost, 400}, {ErrRepeatedHost, 400}, {ErrBadChunk, 400},
		{ErrChunkExtTooLong, 400}, {ErrBadStatus, 400},
		{ErrBodyNotRead, 0}, {nil, 0}, {io.EOF, 0}, {io.ErrUnexpectedEOF, 0}, {errors.New("other"), 0},
	} {
		if got := StatusOf(tt.err); got != tt.want {
			t.Errorf("StatusOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
		if tt.err != nil {
			if got := StatusOf(fmt.Errorf("context: %w", tt.err)); got != tt.want {
				t.Errorf("StatusOf(wrapped %v) = %d, want %d", tt.err, got, tt.want)
			}
		}
	}
}
