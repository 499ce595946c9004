package master

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"agora/core/agentapi"
	"agora/core/mesos"
)

// decodeAs decodes data the way the master's handlers do. A failure must
// be an apiError with a 4xx status; a success must re-encode stably.
func decodeAs[T any](t *testing.T, path string, data []byte) (*T, bool) {
	req := httptest.NewRequest("POST", path, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	var v T
	if err := decodeBody(httptest.NewRecorder(), req, &v); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) || ae.status < 400 || ae.status >= 500 || ae.msg == "" {
			t.Fatalf("decode error %v is not a 4xx apiError with a message", err)
		}
		return nil, false
	}
	enc, err := json.Marshal(&v)
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	var again T
	if err := json.Unmarshal(enc, &again); err != nil {
		t.Fatalf("re-encoded %s does not decode: %v", enc, err)
	}
	if enc2, _ := json.Marshal(&again); !bytes.Equal(enc, enc2) {
		t.Fatalf("JSON round trip changed the value:\n%s\n%s", enc, enc2)
	}
	return &v, true
}

// checkAPIError insists a validation failure is a client error whose
// message starts with the field it is about ("field: ...").
func checkAPIError(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("validation error %v is not an apiError", err)
	}
	if ae.status != http.StatusBadRequest && ae.status != http.StatusNotImplemented {
		t.Fatalf("validation error %q has status %d", ae.msg, ae.status)
	}
	field, _, ok := strings.Cut(ae.msg, ": ")
	if !ok || field == "" || strings.Contains(field, " ") {
		t.Fatalf("validation error %q does not start with the field it is about", ae.msg)
	}
}

func FuzzSchedulerCall(f *testing.F) {
	for _, s := range []string{
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","roles":["web"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`,
		`{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.1}}],"command":{"value":"sleep 1"}}]}}],"filters":{"refuse_seconds":5}}}`,
		`{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o"}],"filters":{"refuse_seconds":-1}}}`,
		`{"type":"KILL","framework_id":{"value":"f"},"kill":{"task_id":{"value":"t"},"kill_policy":{"grace_period":{"nanoseconds":-5}}}}`,
		`{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAEC"}}`,
		`{"type":"RECONCILE","framework_id":{"value":"f"},"reconcile":{"tasks":[]}}`,
		`{"type":"REVIVE","framework_id":{"value":"f"}}`,
		`{"type":"MESSAGE","framework_id":{"value":"f"}}`,
		`{"type":"NOPE"}`,
		`{"type":7}`,
		`[[[[[[[[[[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ok := decodeAs[mesos.Call](t, "/api/v1/scheduler", data)
		if !ok {
			return
		}
		if c.Type == mesos.CallSubscribe {
			if c.Subscribe != nil {
				if err := validateFrameworkInfo(&c.Subscribe.FrameworkInfo); err != nil {
					checkAPIError(t, err)
				}
			}
			return
		}
		if err := validateCall(c); err != nil {
			checkAPIError(t, err)
		}
	})
}

func FuzzOperatorCall(f *testing.F) {
	for _, s := range []string{
		`{"type":"GET_STATE"}`, `{"type":"GET_HEALTH"}`, `{"type":"GET_VERSION"}`,
		`{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"a"}}}`,
		`{"type":"MARK_AGENT_GONE"}`, `{}`, `null`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeAs[operatorCall](t, "/api/v1", data)
	})
}

func FuzzAgentCall(f *testing.F) {
	for _, s := range []string{
		`{"type":"SUBSCRIBE","subscribe":{"agent_info":{"hostname":"h","resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":4}},{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]}}],"attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}}]},"containerizers":["process"],"version":"1"}}`,
		`{"type":"UPDATE","agent_id":{"value":"a"},"update":{"framework_id":{"value":"f"},"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"AAEC"},"latest_state":"TASK_RUNNING"}}`,
		`{"type":"PONG","agent_id":{"value":"a"}}`,
		`{"type":"UPDATE","agent_id":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeAs[agentapi.Call](t, "/agent/api/v1", data)
	})
}
