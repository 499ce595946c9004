package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// FilesReadPath is the agent's sandbox file endpoint.
const FilesReadPath = "/files/read"

// SandboxPath is the path ReadFile takes for a task's stdout or stderr.
func SandboxPath(frameworkID, taskID, file string) string {
	return "/frameworks/" + frameworkID + "/tasks/" + taskID + "/" + file
}

// filesReadResponse is the agent's answer to /files/read.
type filesReadResponse struct {
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
}

// ReadFile reads up to length bytes of a sandbox file at offset from the
// agent at agentAddr ("host:port" or "http://..."). It returns the bytes and
// the offset to read from next. With offset -1 it reads nothing and returns
// the file's size as newOffset. length <= 0 lets the agent choose. The agent
// may return fewer bytes than asked; an empty result means end of file.
// hc may be nil.
func ReadFile(ctx context.Context, hc *http.Client, agentAddr, path string, offset int64, length int64) (data []byte, newOffset int64, err error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	base, err := BaseURL(agentAddr)
	if err != nil {
		return nil, 0, fmt.Errorf("agent %w", err)
	}
	q := url.Values{}
	q.Set("path", path)
	q.Set("offset", strconv.FormatInt(offset, 10))
	if length > 0 {
		q.Set("length", strconv.FormatInt(length, 10))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+FilesReadPath+"?"+q.Encode(), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("read %s from %s: %w", path, base, ctx.Err())
		}
		return nil, 0, fmt.Errorf("read %s: %w", path, &UnreachableError{Role: "agent", Addr: base, Err: err})
	}
	if resp.StatusCode/100 != 2 {
		return nil, 0, fmt.Errorf("read %s from agent at %s: %w", path, base, apiError(resp))
	}
	defer drain(resp.Body)
	var r filesReadResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxOperatorResponse)).Decode(&r); err != nil {
		return nil, 0, fmt.Errorf("read %s from agent at %s: decode response: %w", path, base, err)
	}
	if offset < 0 {
		return nil, r.Offset, nil
	}
	return []byte(r.Data), r.Offset + int64(len(r.Data)), nil
}
