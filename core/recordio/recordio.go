// Package recordio reads and writes Mesos's RecordIO framing: each record is
// its length in bytes as decimal ASCII, a newline, then the record itself.
// The scheduler and agent event streams use it.
package recordio

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// MaxRecord bounds a record a Reader accepts, so a corrupt length cannot
// make the reader allocate without limit.
const MaxRecord = 64 << 20

// Write writes one framed record.
func Write(w io.Writer, rec []byte) error {
	buf := make([]byte, 0, len(rec)+12)
	buf = strconv.AppendInt(buf, int64(len(rec)), 10)
	buf = append(buf, '\n')
	buf = append(buf, rec...)
	_, err := w.Write(buf)
	return err
}

// Reader reads framed records.
type Reader struct {
	r *bufio.Reader
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Read returns the next record, or io.EOF at a clean end of stream.
func (r *Reader) Read() ([]byte, error) {
	line, err := r.r.ReadSlice('\n')
	if err != nil {
		if err == io.EOF && len(line) == 0 {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("recordio: reading length: %w", err)
	}
	n, err := strconv.ParseUint(string(line[:len(line)-1]), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("recordio: bad length %q", line[:len(line)-1])
	}
	if n > MaxRecord {
		return nil, fmt.Errorf("recordio: record of %d bytes exceeds the %d byte limit", n, MaxRecord)
	}
	if n <= eagerRecord {
		rec := make([]byte, n)
		if _, err := io.ReadFull(r.r, rec); err != nil {
			return nil, fmt.Errorf("recordio: reading record: %w", err)
		}
		return rec, nil
	}
	// A large length is only a claim: grow the buffer as the bytes arrive
	// so a peer cannot make us allocate MaxRecord by sending a short line.
	rec, err := io.ReadAll(io.LimitReader(r.r, int64(n)))
	if err != nil {
		return nil, fmt.Errorf("recordio: reading record: %w", err)
	}
	if uint64(len(rec)) < n {
		return nil, fmt.Errorf("recordio: reading record: %w (got %d of %d bytes)", io.ErrUnexpectedEOF, len(rec), n)
	}
	return rec, nil
}

// eagerRecord is the largest record Read allocates in full before its
// bytes arrive.
const eagerRecord = 64 << 10
