package access

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type rules map[string]bool // "principal action object" -> allowed

func (r rules) Allowed(p, action, object string) (bool, string) {
	if r[p+" "+action+" "+object] {
		return true, ""
	}
	return false, "no rule allows it"
}

func TestGuard(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	g := Guard{Kind: "app", View: "view_apps", Manage: "manage_apps"}
	if g.Read(req, "/a") != nil || g.Write(req, Object{"/a", "root"}) != nil || !g.Filter(req)("/a") {
		t.Fatal("a Guard without an Authorizer must allow everything")
	}
	g.Authorizer = rules{"ann view_apps /a": true, "ann manage_apps /a": true, "ann run_tasks nobody": true}
	g.Principal = func(*http.Request) string { return "ann" }
	if d := g.Read(req, "/b"); d == nil || !strings.Contains(d.Error(), `principal "ann" may not view_apps on app '/b': no rule allows it`) {
		t.Fatalf("Read /b = %v", d)
	}
	if g.Write(req, Object{"/a", "nobody"}) != nil || !g.Filter(req)("/a") || g.Filter(req)("/b") {
		t.Fatal("ann may manage /a as nobody and see only /a")
	}
	d := g.Write(req, Object{"/a", "nobody"}, Object{"/a", "root"})
	if d == nil || !strings.Contains(d.Error(), `may not run_tasks as user "root" for app '/a'`) {
		t.Fatalf("Write as root = %v, want the run_tasks refusal naming the user", d)
	}
	g.Principal = nil
	if d := g.Read(req, "/a"); d == nil || !strings.Contains(d.Error(), "the anonymous principal") {
		t.Fatalf("anonymous Read = %v", d)
	}
}
