package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"agora/frameworks/httpapi"
	"agora/frameworks/services/app"
)

// Client calls the /v2 API of a services framework. Request bodies are
// re-sendable, so a standby master's 307 redirect to the leader is followed
// with the body intact.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client of the API at baseURL ("http://host:5050").
// hc nil uses http.DefaultClient; a client with a Timeout also cuts Events
// streams after that long.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Error is an answer of the API other than 2xx.
type Error struct {
	Status  int
	Message string
	// Details name each bad field of a 422, in Marathon's path notation
	// ("/container/portMappings(0)/containerPort").
	Details []app.ErrorDetail
	// Deployments lists the deployments locking an app (409).
	Deployments []string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "services api: %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for i, d := range e.Details {
		if i == 0 {
			b.WriteString(":")
		} else {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s: %s", d.Path, strings.Join(d.Errors, ", "))
	}
	if len(e.Deployments) > 0 {
		fmt.Fprintf(&b, " (deployments %s)", strings.Join(e.Deployments, ", "))
	}
	return b.String()
}

// PutResult answers PutApp.
type PutResult struct {
	WriteResult
	// Created is set when the PUT created the app.
	Created bool
	// Plan is the answer to a dry run; nothing changed.
	Plan *PlanView
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) (*http.Response, error) {
	resp, data, err := httpapi.Do(ctx, c.hc, c.base, method, path, q, body)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode >= 300 {
		return resp, decodeError(resp.StatusCode, data)
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp, nil
}

func decodeError(status int, data []byte) *Error {
	var body struct {
		Message     string            `json:"message"`
		Details     []app.ErrorDetail `json:"details"`
		Deployments []DeploymentRef   `json:"deployments"`
	}
	e := &Error{Status: status}
	if json.Unmarshal(data, &body) != nil {
		e.Message = strings.TrimSpace(string(data))
		return e
	}
	e.Message, e.Details = body.Message, body.Details
	for _, d := range body.Deployments {
		e.Deployments = append(e.Deployments, d.ID)
	}
	return e
}

func flags(pairs ...any) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if v, ok := pairs[i+1].(bool); ok && v {
			q.Set(pairs[i].(string), "true")
		}
	}
	return q
}

// definitionJSON turns an app file (JSON or YAML) into JSON and returns its
// id, absolute.
func definitionJSON(raw []byte) ([]byte, string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, "", errors.New("app definition is empty")
	}
	if raw[0] != '{' {
		var v any
		if err := yaml.Unmarshal(raw, &v); err != nil {
			return nil, "", fmt.Errorf("app definition: %w", err)
		}
		j, err := yamlJSON(v, "")
		if err != nil {
			return nil, "", fmt.Errorf("app definition: %w", err)
		}
		if raw, err = json.Marshal(j); err != nil {
			return nil, "", fmt.Errorf("app definition: %w", err)
		}
	}
	var head struct {
		ID any `json:"id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, "", fmt.Errorf("app definition: %w", err)
	}
	id, ok := head.ID.(string)
	if !ok || strings.Trim(id, "/") == "" {
		return nil, "", errors.New("app definition: id: a non-empty string is required")
	}
	return raw, "/" + strings.Trim(id, "/"), nil
}

// yamlJSON makes a decoded YAML value encodable as JSON (string map keys).
func yamlJSON(v any, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			c, err := yamlJSON(e, path+"."+k)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks := fmt.Sprint(k)
			c, err := yamlJSON(e, path+"."+ks)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		for i, e := range x {
			c, err := yamlJSON(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	}
	return v, nil
}

// PutApp creates or replaces the app defined by raw (the contents of a JSON
// or YAML file, sent as JSON). With dryRun nothing changes and the result
// carries the plan.
func (c *Client) PutApp(ctx context.Context, raw []byte, force, dryRun bool) (*PutResult, error) {
	body, id, err := definitionJSON(raw)
	if err != nil {
		return nil, err
	}
	q := flags("force", force, "dryRun", dryRun)
	if dryRun {
		var plan PlanView
		if _, err := c.do(ctx, http.MethodPut, appPath(id), q, body, &plan); err != nil {
			return nil, err
		}
		return &PutResult{Plan: &plan}, nil
	}
	var res PutResult
	resp, err := c.do(ctx, http.MethodPut, appPath(id), q, body, &res.WriteResult)
	if err != nil {
		return nil, err
	}
	res.Created = resp.StatusCode == http.StatusCreated
	return &res, nil
}

// CreateApp creates the app defined by raw (JSON or YAML); it fails with a
// 409 *Error when the app exists.
func (c *Client) CreateApp(ctx context.Context, raw []byte) (*AppView, error) {
	body, _, err := definitionJSON(raw)
	if err != nil {
		return nil, err
	}
	var v AppView
	if _, err := c.do(ctx, http.MethodPost, "/v2/apps", nil, body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// GetApp returns the app with its tasks.
func (c *Client) GetApp(ctx context.Context, id string) (*AppView, error) {
	var out struct {
		App AppView `json:"app"`
	}
	if _, err := c.do(ctx, http.MethodGet, appPath(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out.App, nil
}

// ListApps returns the apps in the group prefix ("" or "/" for all).
func (c *Client) ListApps(ctx context.Context, prefix string) ([]AppView, error) {
	q := url.Values{}
	if p := strings.Trim(prefix, "/"); p != "" {
		q.Set("id", "/"+p)
	}
	var out struct {
		Apps []AppView `json:"apps"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v2/apps", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Apps, nil
}

// PatchApp merges fields (top-level app fields) into the app's definition.
func (c *Client) PatchApp(ctx context.Context, id string, fields map[string]any, force bool) (WriteResult, error) {
	body, err := json.Marshal(fields)
	if err != nil {
		return WriteResult{}, fmt.Errorf("patch app %s: %w", id, err)
	}
	var res WriteResult
	_, err = c.do(ctx, http.MethodPatch, appPath(id), flags("force", force), body, &res)
	return res, err
}

// DeleteApp stops and removes the app.
func (c *Client) DeleteApp(ctx context.Context, id string, force bool) (WriteResult, error) {
	var res WriteResult
	_, err := c.do(ctx, http.MethodDelete, appPath(id), flags("force", force), nil, &res)
	return res, err
}

// RestartApp replaces all the app's instances.
func (c *Client) RestartApp(ctx context.Context, id string, force bool) (WriteResult, error) {
	var res WriteResult
	_, err := c.do(ctx, http.MethodPost, appPath(id)+"/restart", flags("force", force), nil, &res)
	return res, err
}

// RollbackApp makes the app's definition at version current again.
func (c *Client) RollbackApp(ctx context.Context, id, version string, force bool) (WriteResult, error) {
	body, _ := json.Marshal(map[string]string{"version": version})
	var res WriteResult
	_, err := c.do(ctx, http.MethodPut, appPath(id), flags("force", force), body, &res)
	return res, err
}

// KillTask kills one task of the app; with scale the app's instance count
// goes down by one and the result names the deployment.
func (c *Client) KillTask(ctx context.Context, appID, taskID string, scale bool) (WriteResult, error) {
	var res WriteResult
	var out any
	if scale {
		out = &res
	}
	_, err := c.do(ctx, http.MethodDelete, appPath(appID)+"/tasks/"+url.PathEscape(taskID), flags("scale", scale), nil, out)
	return res, err
}

// KillHostTasks kills the app's tasks on host ("" kills all of them).
func (c *Client) KillHostTasks(ctx context.Context, appID, host string, scale bool) (WriteResult, error) {
	q := flags("scale", scale)
	if host != "" {
		q.Set("host", host)
	}
	var res WriteResult
	var out any
	if scale {
		out = &res
	}
	_, err := c.do(ctx, http.MethodDelete, appPath(appID)+"/tasks", q, nil, out)
	return res, err
}

// Tasks returns the app's tasks, or every task when appID is "".
func (c *Client) Tasks(ctx context.Context, appID string) ([]Task, error) {
	path := "/v2/tasks"
	if appID != "" {
		path = appPath(appID) + "/tasks"
	}
	var out struct {
		Tasks []Task `json:"tasks"`
	}
	if _, err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Tasks, nil
}

// Groups returns the group id ("" or "/" for the root) with its apps and
// subgroups.
func (c *Client) Groups(ctx context.Context, id string) (*GroupView, error) {
	path := "/v2/groups"
	if p := strings.Trim(id, "/"); p != "" {
		path += escapedPath(p)
	}
	var g GroupView
	if _, err := c.do(ctx, http.MethodGet, path, nil, nil, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// Deployments returns the running deployments.
func (c *Client) Deployments(ctx context.Context) ([]DeploymentView, error) {
	var out []DeploymentView
	_, err := c.do(ctx, http.MethodGet, "/v2/deployments", nil, nil, &out)
	return out, err
}

// CancelDeployment rolls the deployment back (the result names the
// rollback) or, with force, only stops it.
func (c *Client) CancelDeployment(ctx context.Context, id string, force bool) (WriteResult, error) {
	var res WriteResult
	_, err := c.do(ctx, http.MethodDelete, "/v2/deployments/"+url.PathEscape(id), flags("force", force), nil, &res)
	return res, err
}

// Queue returns the apps with instances waiting to launch and why.
func (c *Client) Queue(ctx context.Context) ([]QueueItem, error) {
	var out struct {
		Queue []QueueItem `json:"queue"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v2/queue", url.Values{"embed": {"lastUnusedOffers"}}, nil, &out); err != nil {
		return nil, err
	}
	return out.Queue, nil
}

// ResetDelay ends the app's launch backoff.
func (c *Client) ResetDelay(ctx context.Context, appID string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v2/queue"+escapedPath(appID)+"/delay", nil, nil, nil)
	return err
}

// Versions lists the app's versions, newest first.
func (c *Client) Versions(ctx context.Context, id string) ([]string, error) {
	var out struct {
		Versions []string `json:"versions"`
	}
	if _, err := c.do(ctx, http.MethodGet, appPath(id)+"/versions", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Versions, nil
}

// Version returns the app's definition at version.
func (c *Client) Version(ctx context.Context, id, version string) (*app.App, error) {
	var a app.App
	if _, err := c.do(ctx, http.MethodGet, appPath(id)+"/versions/"+url.PathEscape(version), nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Info returns /v2/info.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var info Info
	if _, err := c.do(ctx, http.MethodGet, "/v2/info", nil, nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Ping checks that the API answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/v2/ping", nil, nil, nil)
	return err
}

// Events subscribes to /v2/events, of the given types only when some are
// given. The channel is closed when ctx ends or the server ends the stream.
func (c *Client) Events(ctx context.Context, types ...string) (<-chan Event, error) {
	q := url.Values{}
	for _, t := range types {
		q.Add("event_type", t)
	}
	u := c.base + "/v2/events"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET /v2/events: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /v2/events: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, decodeError(resp.StatusCode, data)
	}
	ch := make(chan Event, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		readSSE(ctx, resp.Body, ch)
	}()
	return ch, nil
}

// readSSE parses a Server-Sent Events stream into ch until it ends.
func readSSE(ctx context.Context, r io.Reader, ch chan<- Event) {
	br := bufio.NewReaderSize(r, 64<<10)
	var data strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data.Len() == 0 {
				continue
			}
			var ev Event
			if json.Unmarshal([]byte(data.String()), &ev) == nil {
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
			data.Reset()
		case strings.HasPrefix(line, ":"): // comment: keep-alive
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
		// "event:" repeats eventType, which the data carries.
	}
}
