package state

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"agora/core/store"
	"agora/core/store/boltstore"
	"agora/core/store/zkstore"
	"agora/core/zk/zktest"
	"agora/frameworks/services/app"
	"agora/frameworks/services/deploy"
)

// The same suite runs on both store implementations the framework can be
// deployed on; ZooKeeper is a real server, not a mock.

func TestBoltStore(t *testing.T) {
	runSuite(t, func(t *testing.T) store.Store {
		st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestZooKeeperStore(t *testing.T) {
	z := zktest.Start(t)
	var n atomic.Int64
	runSuite(t, func(t *testing.T) store.Store {
		st, err := zkstore.Open(z.Servers(), fmt.Sprintf("/agora%d", n.Add(1)), 10*time.Second, t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func runSuite(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store, s *Store)
	}{
		{"FrameworkID", testFrameworkID},
		{"AppsAndGroups", testAppsAndGroups},
		{"CompareAndSet", testCompareAndSet},
		{"VersionsPruned", testVersionsPruned},
		{"Deployments", testDeployments},
		{"Instances", testInstances},
		{"DeleteCascades", testDeleteCascades},
		{"OversizeRefused", testOversizeRefused},
		{"UnusualIDs", testUnusualIDs},
		{"CorruptReported", testCorruptReported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() { _ = st.Close() })
			tc.fn(t, st, New(st, "/services"))
		})
	}
}

var ctx = context.Background()

func mkApp(t testing.TB, id, version string) *app.App {
	t.Helper()
	a, err := app.Parse([]byte(fmt.Sprintf(`{"id": %q, "cmd": "sleep 1000", "instances": 2, "version": %q}`, id, version)))
	if err != nil {
		t.Fatalf("parse %s: %v", id, err)
	}
	return a
}

func ids(apps []*app.App) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.ID()
	}
	return out
}

func testFrameworkID(t *testing.T, _ store.Store, s *Store) {
	if _, err := s.FrameworkID(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FrameworkID before any set: err = %v, want ErrNotFound", err)
	}
	if err := s.SetFrameworkID(ctx, "fw-1"); err != nil {
		t.Fatal(err)
	}
	// A restarted framework (a new Store on the same store) sees the id.
	id, err := New(s.st, "/services").FrameworkID(ctx)
	if err != nil || id != "fw-1" {
		t.Fatalf("FrameworkID = %q, %v; want fw-1", id, err)
	}
	if err := s.SetFrameworkID(ctx, ""); err == nil {
		t.Fatal("empty framework id accepted")
	}
}

func testAppsAndGroups(t *testing.T, _ store.Store, s *Store) {
	for _, id := range []string{"/web", "/team/web", "/team/db/primary", "/teamx/web", "/team-web"} {
		if _, err := s.PutApp(ctx, mkApp(t, id, "2024-01-01T00:00:00Z"), store.Absent); err != nil {
			t.Fatalf("PutApp(%s): %v", id, err)
		}
	}
	a, ver, err := s.GetApp(ctx, "team/db/primary") // relative ids mean the same app
	if err != nil || a.ID() != "/team/db/primary" || ver != 1 || a.Instances != 2 || a.Cmd != "sleep 1000" {
		t.Fatalf("GetApp = %+v, %d, %v", a, ver, err)
	}
	all, err := s.ListApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/team-web", "/team/db/primary", "/team/web", "/teamx/web", "/web"}; !reflect.DeepEqual(ids(all), want) {
		t.Fatalf("ListApps = %v, want %v", ids(all), want)
	}
	team, err := s.ListGroup(ctx, "/team")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/team/db/primary", "/team/web"}; !reflect.DeepEqual(ids(team), want) {
		t.Fatalf("ListGroup(/team) = %v, want %v", ids(team), want)
	}
	if err := s.DeleteApp(ctx, "/team/web"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GetApp(ctx, "/team/web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetApp after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteApp(ctx, "/team/web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteApp: %v, want ErrNotFound", err)
	}
	all, _ = s.ListApps(ctx)
	if len(all) != 4 {
		t.Fatalf("after delete ListApps = %v", ids(all))
	}
}

func testCompareAndSet(t *testing.T, _ store.Store, s *Store) {
	a := mkApp(t, "/team/web", "2024-01-01T00:00:00Z")
	v1, err := s.PutApp(ctx, a, store.Absent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutApp(ctx, a, store.Absent); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("creating an existing app: %v, want ErrConflict", err)
	}
	// Two writers read v1; the second to write loses and must retry.
	scaled := *a
	scaled.Instances = 5
	restarted := *a
	restarted.Cmd = "sleep 2000"
	v2, err := s.PutApp(ctx, &scaled, v1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutApp(ctx, &restarted, v1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale write: %v, want ErrConflict", err)
	} else if !strings.Contains(err.Error(), "/team/web") {
		t.Fatalf("conflict error does not name the app: %v", err)
	}
	cur, ver, err := s.GetApp(ctx, "/team/web")
	if err != nil || ver != v2 || cur.Instances != 5 || cur.Cmd != "sleep 1000" {
		t.Fatalf("after race: %+v v%d %v; want the first writer's update", cur, ver, err)
	}
	cur.Cmd = "sleep 2000"
	if _, err := s.PutApp(ctx, cur, ver); err != nil {
		t.Fatalf("retry after re-read: %v", err)
	}
	cur, _, _ = s.GetApp(ctx, "/team/web")
	if cur.Instances != 5 || cur.Cmd != "sleep 2000" {
		t.Fatalf("both updates not kept: %+v", cur)
	}
}

func testVersionsPruned(t *testing.T, _ store.Store, s *Store) {
	s.WithMaxVersions(3)
	base := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	var written []string
	// Written out of order, and with a sub-second timestamp that sorts
	// differently as text, to check pruning goes by time.
	for _, i := range []int{2, 0, 4, 1, 3} {
		v := base.Add(time.Duration(i) * 1500 * time.Millisecond).Format(time.RFC3339Nano)
		written = append(written, v)
		a := mkApp(t, "/team/web", v)
		a.Instances = i
		if err := s.PutVersion(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := s.ListVersions(ctx, "/team/web")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		base.Add(6 * time.Second).Format(time.RFC3339Nano),
		base.Add(4500 * time.Millisecond).Format(time.RFC3339Nano),
		base.Add(3 * time.Second).Format(time.RFC3339Nano),
	}
	if !reflect.DeepEqual(vs, want) {
		t.Fatalf("ListVersions = %v, want newest three %v", vs, want)
	}
	old, err := s.GetVersion(ctx, "/team/web", want[2])
	if err != nil || old.Instances != 2 || old.Version != want[2] {
		t.Fatalf("GetVersion(%s) = %+v, %v", want[2], old, err)
	}
	if _, err := s.GetVersion(ctx, "/team/web", base.Format(time.RFC3339Nano)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pruned version: %v, want ErrNotFound", err)
	}
	if err := s.PutVersion(ctx, mkApp(t, "/team/web", "")); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("app without version: %v, want an error naming the version", err)
	}
	// Other apps' versions are separate, including a group of the same name.
	if err := s.PutVersion(ctx, mkApp(t, "/team/web/api", base.Format(time.RFC3339))); err != nil {
		t.Fatal(err)
	}
	if vs, _ := s.ListVersions(ctx, "/team/web"); len(vs) != 3 {
		t.Fatalf("versions of /team/web after writing /team/web/api: %v", vs)
	}
}

func testDeployments(t *testing.T, _ store.Store, s *Store) {
	prev := deploy.AppSpec{ID: "/team/web", Version: "v1", Instances: 3, UpgradeStrategy: deploy.DefaultUpgradeStrategy()}
	target := prev
	target.Version = "v2"
	target.KillSelection = deploy.OldestFirst
	d, err := deploy.New("dep-1", prev, target, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// A deployment that has already run for a while: after a failover its
	// deadline must keep counting from its last progress, not restart.
	started := time.Date(2024, 5, 1, 9, 0, 0, 123456789, time.UTC)
	d.StartedAt = started
	d.LastProgress = started.Add(90 * time.Second)
	d.BestHealthy, d.BestRemaining = 2, 1
	if err := s.PutDeployment(ctx, "/team/web", d); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDeployment(ctx, "team/web")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("deployment round trip:\n got %+v\nwant %+v", got, d)
	}
	if !got.LastProgress.Add(got.ProgressDeadline).Equal(started.Add(90*time.Second + 10*time.Minute)) {
		t.Fatalf("deadline moved: %v + %v", got.LastProgress, got.ProgressDeadline)
	}
	// One per app: a new one replaces it.
	d2 := *d
	d2.ID = "dep-2"
	if err := s.PutDeployment(ctx, "/team/web", &d2); err != nil {
		t.Fatal(err)
	}
	other := *d
	other.ID = "dep-3"
	other.Target.ID, other.Previous.ID = "/db", "/db"
	if err := s.PutDeployment(ctx, "/db", &other); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListDeployments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["/team/web"].ID != "dep-2" || all["/db"].ID != "dep-3" {
		t.Fatalf("ListDeployments = %v", all)
	}
	if err := s.DeleteDeployment(ctx, "/team/web"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDeployment(ctx, "/team/web"); err != nil {
		t.Fatalf("deleting a missing deployment: %v", err)
	}
	if _, err := s.GetDeployment(ctx, "/team/web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
}

func testInstances(t *testing.T, _ store.Store, s *Store) {
	yes := true
	at := time.Date(2024, 5, 1, 9, 0, 0, 5, time.UTC)
	ins := []Instance{
		{TaskID: "team_web.b", AppID: "/team/web", Version: "v1", AgentID: "a1", Host: "h1", LaunchedAt: at, State: "TASK_RUNNING", Healthy: &yes, UpdatedAt: at},
		{TaskID: "team_web.a", AppID: "team/web", Version: "v1", LaunchedAt: at, State: "TASK_STAGING"},
		{TaskID: "db.x", AppID: "/db", Version: "v7", AgentID: "a2", LaunchedAt: at},
	}
	for _, in := range ins {
		if err := s.PutInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	web, err := s.ListInstances(ctx, "/team/web")
	if err != nil {
		t.Fatal(err)
	}
	if len(web) != 2 || web[0].TaskID != "team_web.a" || web[1].TaskID != "team_web.b" {
		t.Fatalf("ListInstances(/team/web) = %+v", web)
	}
	want := ins[0]
	if !reflect.DeepEqual(web[1], want) {
		t.Fatalf("instance round trip:\n got %+v\nwant %+v", web[1], want)
	}
	if web[0].AppID != "/team/web" {
		t.Fatalf("relative app id stored as %q", web[0].AppID)
	}
	// Updating an instance keeps one record (no duplicates after an update).
	upd := ins[1]
	upd.State, upd.AgentID = "TASK_RUNNING", "a3"
	if err := s.PutInstance(ctx, upd); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListInstances(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].TaskID != "db.x" || all[1].State != "TASK_RUNNING" || all[1].AgentID != "a3" {
		t.Fatalf("ListInstances(all) = %+v", all)
	}
	if err := s.DeleteInstance(ctx, "/team/web", "team_web.a"); err != nil {
		t.Fatal(err)
	}
	if web, _ := s.ListInstances(ctx, "/team/web"); len(web) != 1 {
		t.Fatalf("after DeleteInstance: %+v", web)
	}
	if err := s.PutInstance(ctx, Instance{AppID: "/db"}); err == nil || !strings.Contains(err.Error(), "taskId") {
		t.Fatalf("instance without task id: %v", err)
	}
}

func testDeleteCascades(t *testing.T, _ store.Store, s *Store) {
	web := mkApp(t, "/team/web", "2024-01-01T00:00:00Z")
	api := mkApp(t, "/team/web/api", "2024-01-01T00:00:00Z")
	for _, a := range []*app.App{web, api} {
		if _, err := s.PutApp(ctx, a, store.Absent); err != nil {
			t.Fatal(err)
		}
		if err := s.PutVersion(ctx, a); err != nil {
			t.Fatal(err)
		}
		d, err := deploy.New("dep"+a.ID(), deploy.AppSpec{}, deploy.AppSpec{ID: a.ID(), Version: "v1", Instances: 1, UpgradeStrategy: deploy.DefaultUpgradeStrategy()}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutDeployment(ctx, a.ID(), d); err != nil {
			t.Fatal(err)
		}
		if err := s.PutInstance(ctx, Instance{TaskID: a.ServiceName() + ".1", AppID: a.ID(), Version: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteApp(ctx, "/team/web"); err != nil {
		t.Fatal(err)
	}
	if vs, err := s.ListVersions(ctx, "/team/web"); err != nil || len(vs) != 0 {
		t.Fatalf("versions left after DeleteApp: %v %v", vs, err)
	}
	if _, err := s.GetDeployment(ctx, "/team/web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deployment left after DeleteApp: %v", err)
	}
	// Its instances stay until their tasks are known to be gone.
	if ins, _ := s.ListInstances(ctx, "/team/web"); len(ins) != 1 {
		t.Fatalf("instances of a deleted app: %+v, want kept for reconciliation", ins)
	}
	// The app nested under the deleted one's name is untouched.
	if _, _, err := s.GetApp(ctx, "/team/web/api"); err != nil {
		t.Fatal(err)
	}
	if vs, _ := s.ListVersions(ctx, "/team/web/api"); len(vs) != 1 {
		t.Fatalf("versions of /team/web/api: %v", vs)
	}
	if _, err := s.GetDeployment(ctx, "/team/web/api"); err != nil {
		t.Fatal(err)
	}
	// A re-created app starts without the old app's history.
	if _, err := s.PutApp(ctx, web, store.Absent); err != nil {
		t.Fatalf("re-create: %v", err)
	}
	if vs, _ := s.ListVersions(ctx, "/team/web"); len(vs) != 0 {
		t.Fatalf("re-created app inherited versions %v", vs)
	}
}

func testOversizeRefused(t *testing.T, _ store.Store, s *Store) {
	big := mkApp(t, "/team/huge", "2024-01-01T00:00:00Z")
	big.Env = app.EnvVars{"BLOB": strings.Repeat("x", 1<<20)}
	_, err := s.PutApp(ctx, big, store.Absent)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/team/huge") {
		t.Fatalf("1 MB app: %v, want ErrTooLarge naming the app", err)
	}
	if err := s.PutVersion(ctx, big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("1 MB version: %v, want ErrTooLarge", err)
	}
	if _, _, err := s.GetApp(ctx, "/team/huge"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused app was stored: %v", err)
	}
	// Just under the limit is fine.
	big.Env = app.EnvVars{"BLOB": strings.Repeat("x", MaxRecordBytes-2048)}
	if _, err := s.PutApp(ctx, big, store.Absent); err != nil {
		t.Fatalf("app under the limit: %v", err)
	}
}

func testUnusualIDs(t *testing.T, _ store.Store, s *Store) {
	long := strings.Repeat("a", 200)
	unusual := []string{
		"/0",
		"/a-b--c",
		"/x/y/z/1/2/3/4/5/6/7/8/9",
		"/" + long + "/" + long,
		"/team",     // an app with the name of a group...
		"/team/web", // ...that holds apps
		"/team-web", // and ids that a naive "/"->"-" mapping would merge
		"/team--web",
	}
	for _, id := range unusual {
		a := mkApp(t, id, "2024-01-01T00:00:00.000Z")
		if errs := a.Validate(); len(errs) > 0 {
			t.Fatalf("test id %s is not valid: %v", id, errs)
		}
		if _, err := s.PutApp(ctx, a, store.Absent); err != nil {
			t.Fatalf("PutApp(%s): %v", id, err)
		}
		if err := s.PutVersion(ctx, a); err != nil {
			t.Fatalf("PutVersion(%s): %v", id, err)
		}
		if err := s.PutInstance(ctx, Instance{TaskID: a.ServiceName() + ".0f3a:b/c", AppID: id}); err != nil {
			t.Fatalf("PutInstance(%s): %v", id, err)
		}
	}
	all, err := s.ListApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(unusual) {
		t.Fatalf("ListApps = %v, want all of %v", ids(all), unusual)
	}
	for _, id := range unusual {
		a, _, err := s.GetApp(ctx, id)
		if err != nil || a.ID() != id {
			t.Fatalf("GetApp(%s) = %v, %v", id, a, err)
		}
		if vs, err := s.ListVersions(ctx, id); err != nil || !reflect.DeepEqual(vs, []string{"2024-01-01T00:00:00.000Z"}) {
			t.Fatalf("ListVersions(%s) = %v, %v", id, vs, err)
		}
		ins, err := s.ListInstances(ctx, id)
		if err != nil || len(ins) != 1 || !strings.HasSuffix(ins[0].TaskID, ".0f3a:b/c") {
			t.Fatalf("ListInstances(%s) = %+v, %v", id, ins, err)
		}
	}
}

func testCorruptReported(t *testing.T, st store.Store, s *Store) {
	if _, err := s.PutApp(ctx, mkApp(t, "/good", "2024-01-01T00:00:00Z"), store.Absent); err != nil {
		t.Fatal(err)
	}
	badKey := "/services/apps/team.bad"
	if _, err := st.Put(ctx, badKey, []byte(`{"id": "/team/bad", "cpus": "lots"`), store.Absent); err != nil {
		t.Fatal(err)
	}
	// A valid app under another app's key is corrupt too.
	wrongKey := "/services/apps/team.other"
	if _, err := st.Put(ctx, wrongKey, []byte(`{"id": "/good", "cmd": "x"}`), store.Absent); err != nil {
		t.Fatal(err)
	}
	apps, err := s.ListApps(ctx)
	var ce *CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), badKey) || !strings.Contains(err.Error(), wrongKey) {
		t.Fatalf("ListApps err = %v, want corrupt records named %s and %s", err, badKey, wrongKey)
	}
	if len(apps) != 1 || apps[0].ID() != "/good" {
		t.Fatalf("ListApps dropped the good app: %v", ids(apps))
	}
	if _, _, err := s.GetApp(ctx, "/team/bad"); !errors.As(err, &ce) || ce.Key != badKey {
		t.Fatalf("GetApp(corrupt) = %v", err)
	}
	if _, err := st.Put(ctx, "/services/deployments/x", []byte("not json"), store.Absent); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListDeployments(ctx); !errors.As(err, &ce) || ce.Key != "/services/deployments/x" {
		t.Fatalf("ListDeployments err = %v", err)
	}
	if _, err := st.Put(ctx, "/services/instances/x/t1", []byte("{"), store.Absent); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListInstances(ctx, ""); !errors.As(err, &ce) || ce.Key != "/services/instances/x/t1" {
		t.Fatalf("ListInstances err = %v", err)
	}
	if _, err := st.Put(ctx, "/services/framework-id", []byte("fw-raw"), store.Absent); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FrameworkID(ctx); !errors.As(err, &ce) {
		t.Fatalf("FrameworkID(corrupt) = %v", err)
	}
}
