package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"agora/core/mesos"
)

// OperatorPath is the master's operator API endpoint.
const OperatorPath = "/api/v1"

// maxOperatorResponse bounds a response body; GET_STATE of a large cluster
// is big but not unbounded.
const maxOperatorResponse = 1 << 30

// Operator is a client of the master's operator API.
type Operator struct {
	ep *endpoint
}

// NewOperator returns a client for the master at master ("127.0.0.1:5050"
// or "http://..."). hc may be nil.
func NewOperator(master string, hc *http.Client) *Operator {
	return &Operator{ep: newEndpoint(master, hc)}
}

// Master returns the base URL of the master the client talks to (the
// leader, after a redirect).
func (o *Operator) Master() string {
	return o.ep.name()
}

// Raw sends a call of type typ (e.g. mesos.GetAgents) and returns the JSON
// response body as the master sent it.
func (o *Operator) Raw(ctx context.Context, typ string) ([]byte, error) {
	body, err := json.Marshal(mesos.OperatorCall{Type: typ})
	if err != nil {
		return nil, fmt.Errorf("%s: encode: %w", typ, err)
	}
	resp, err := o.ep.post(ctx, OperatorPath, body, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", typ, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s: %w", typ, apiError(resp))
	}
	defer drain(resp.Body)
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxOperatorResponse))
	if err != nil {
		return nil, fmt.Errorf("%s: reading response from %s: %w", typ, o.Master(), err)
	}
	return b, nil
}

// Call sends a call of type typ and decodes the response.
func (o *Operator) Call(ctx context.Context, typ string) (*mesos.OperatorResponse, error) {
	b, err := o.Raw(ctx, typ)
	if err != nil {
		return nil, err
	}
	var r mesos.OperatorResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: decode response from %s: %w", typ, o.Master(), err)
	}
	return &r, nil
}
