package rawhttp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// ErrUnsupported is a response Client cannot read: chunked, or with no
// length at all.
var ErrUnsupported = errors.New("rawhttp: response framing not supported")

var (
	contentLengthField    = []byte("content-length:")
	transferEncodingField = []byte("transfer-encoding:")
)

// Client sends the same GET over one kept-alive connection. It is not safe
// for concurrent use.
type Client struct {
	c      net.Conn
	br     *bufio.Reader
	req    []byte
	closed bool
}

// Dial connects to addr; requests ask for / with Host set to addr.
func Dial(addr string) (*Client, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rawhttp: dial: %w", err)
	}
	return &Client{
		c:   c,
		br:  bufio.NewReaderSize(c, 4096),
		req: []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: rawhttp\r\n\r\n"),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

// Get sends the request and reads the whole response, returning its status
// and body length. After a response that says Connection: close, or any
// error, the Client is done.
func (c *Client) Get() (status, bodyLen int, err error) {
	if c.closed {
		return 0, 0, net.ErrClosed
	}
	if _, err := c.c.Write(c.req); err != nil {
		c.closed = true
		return 0, 0, fmt.Errorf("rawhttp: write: %w", err)
	}
	status, bodyLen, err = c.readResponse()
	if err != nil {
		c.closed = true
	}
	return status, bodyLen, err
}

func (c *Client) readResponse() (status, bodyLen int, err error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("rawhttp: status line: %w", err)
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, 0, fmt.Errorf("rawhttp: bad status line %q", line)
	}
	status, err = atoi(line[9:12])
	if err != nil {
		return 0, 0, fmt.Errorf("rawhttp: bad status line %q", line)
	}
	length := -1
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return status, 0, fmt.Errorf("rawhttp: response head: %w", err)
		}
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			break
		}
		switch {
		case hasFieldPrefix(line, contentLengthField):
			length, err = atoi(bytes.TrimSpace(line[len(contentLengthField):]))
			if err != nil {
				return status, 0, fmt.Errorf("rawhttp: bad Content-Length %q", line)
			}
		case hasFieldPrefix(line, transferEncodingField):
			return status, 0, ErrUnsupported
		case hasFieldPrefix(line, connectionField) && containsFold(line, closeToken):
			c.closed = true
		}
	}
	if status == 204 || status == 304 || status/100 == 1 {
		return status, 0, nil
	}
	if length < 0 {
		return status, 0, ErrUnsupported
	}
	if _, err := c.br.Discard(length); err != nil {
		return status, 0, fmt.Errorf("rawhttp: body: %w", err)
	}
	return status, length, nil
}

// atoi parses a non-negative decimal without allocating.
func atoi(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, strconv.ErrSyntax
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}
