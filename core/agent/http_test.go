package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// filesAgent returns an agent (not running) whose sandbox tree holds
// frameworks/fw/tasks/t1/stdout = "0123456789".
func filesAgent(t *testing.T) (*Agent, *httptest.Server) {
	t.Helper()
	a, err := New(Config{Master: "127.0.0.1:1", WorkDir: t.TempDir(), Logf: t.Logf}, newFakeProcess())
	if err != nil {
		t.Fatal(err)
	}
	sb := filepath.Join(a.cfg.WorkDir, "frameworks", "fw", "tasks", "t1")
	if err := os.MkdirAll(sb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sb, "stdout"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return a, srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestFilesRead(t *testing.T) {
	_, srv := filesAgent(t)
	const p = "/files/read?path=/frameworks/fw/tasks/t1/stdout"
	for _, tc := range []struct {
		query      string
		code       int
		data       string
		offset     int64
		errContain string
	}{
		{"", 200, "0123456789", 0, ""},
		{"&offset=3&length=4", 200, "3456", 3, ""},
		{"&offset=8&length=100", 200, "89", 8, ""},
		{"&offset=-1", 200, "", 10, ""},
		{"&offset=50", 200, "", 50, ""},
		{"&offset=x", 400, "", 0, "offset"},
		{"&length=-5", 400, "", 0, "length"},
	} {
		code, body := get(t, srv.URL+p+tc.query)
		if code != tc.code {
			t.Errorf("%s: status %d (%s), want %d", tc.query, code, body, tc.code)
			continue
		}
		if code != 200 {
			if !strings.Contains(body, tc.errContain) {
				t.Errorf("%s: error %q does not name %s", tc.query, body, tc.errContain)
			}
			continue
		}
		var r struct {
			Data   string `json:"data"`
			Offset int64  `json:"offset"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.Data != tc.data || r.Offset != tc.offset {
			t.Errorf("%s: got %s, want data %q offset %d", tc.query, body, tc.data, tc.offset)
		}
	}
}

func TestFilesPathsStayInSandboxTree(t *testing.T) {
	a, srv := filesAgent(t)
	// A task's symlink to a file outside the tree must not serve it.
	secret := filepath.Join(a.cfg.WorkDir, "agent_id")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	sb := filepath.Join(a.cfg.WorkDir, "frameworks", "fw", "tasks", "t1")
	if err := os.Symlink(secret, filepath.Join(sb, "leak")); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"/frameworks/fw/tasks/t1/../../../../agent_id": 400,
		"/agent_id":                      400,
		"":                               400,
		"/frameworks/fw/tasks/t1":        400, // a directory
		"/frameworks/fw/tasks/t1/stderr": 404,
		"/frameworks/fw/tasks/t1/leak":   400,
	} {
		code, body := get(t, srv.URL+"/files/read?path="+path)
		if code != want {
			t.Errorf("path %q: status %d (%s), want %d", path, code, body, want)
		}
		if strings.Contains(body, "secret") {
			t.Errorf("path %q leaked a file outside the sandbox tree", path)
		}
		if strings.Contains(path, "..") && !strings.Contains(body, path) {
			t.Errorf("error %q does not name the bad path", body)
		}
	}
}

func TestFilesDownloadHealthState(t *testing.T) {
	_, srv := filesAgent(t)
	code, body := get(t, srv.URL+"/files/download?path=/frameworks/fw/tasks/t1/stdout")
	if code != 200 || body != "0123456789" {
		t.Errorf("download: %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/files/download?path=/frameworks/fw/tasks/t1/nope"); code != 404 {
		t.Errorf("download of a missing file: %d", code)
	}
	if code, body := get(t, srv.URL+"/health"); code != 200 || body != "ok" {
		t.Errorf("health: %d %q", code, body)
	}
	var st stateResponse
	code, body = get(t, srv.URL+"/state")
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.Hostname != "127.0.0.1" || st.Registered {
		t.Errorf("state: %d %s", code, body)
	}
}

func TestReadWindowCapsAtOneMB(t *testing.T) {
	off, n := readWindow(readRequest{length: -1}, 5<<20)
	if off != 0 || n != 1<<20 {
		t.Fatalf("window = %d+%d, want the first 1 MB", off, n)
	}
}
