package api

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"

	"agora/frameworks/httpapi"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/deploy"
	"agora/frameworks/services/placement"
)

// deploymentViews renders the running deployments of the apps view allows.
func (s *server) deploymentViews(view func(appID string) bool) []DeploymentView {
	apps := map[string]*app.App{}
	for _, a := range s.b.Apps() {
		apps[a.ID()] = a
	}
	ins := byApp(s.b.Instances(""))
	out := []DeploymentView{}
	for _, d := range s.b.Deployments() {
		id := deploymentApp(d)
		if !view(id) {
			continue
		}
		out = append(out, deploymentView(d, ins[id], apps[id]))
	}
	return out
}

// deploymentApp is the id of the one app a deployment touches.
func deploymentApp(d deploy.Deployment) string {
	if d.Target.ID != "" {
		return d.Target.ID
	}
	return d.Previous.ID
}

func all(string) bool { return true }

// deployments serves GET /v2/deployments.
func (s *server) deployments(w http.ResponseWriter, r *http.Request) {
	if !httpapi.Allow(w, r, http.MethodGet) {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s.deploymentViews(s.viewFilter(r)))
}

// deployment serves GET and DELETE /v2/deployments/{id}. DELETE cancels
// with a rollback, or with ?force=true only stops the deployment.
func (s *server) deployment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	subject := fmt.Sprintf("Deployment '%s'", id)
	switch r.Method {
	case http.MethodGet:
		for _, v := range s.deploymentViews(all) {
			if v.ID == id {
				if s.mayView(w, r, v.AffectedApps[0]) {
					httpapi.WriteJSON(w, http.StatusOK, v)
				}
				return
			}
		}
		httpapi.WriteMessage(w, http.StatusNotFound, subject+" does not exist")
	case http.MethodDelete:
		force, ok := httpapi.BoolParam(w, r, "force")
		if !ok {
			return
		}
		if a := s.deploymentTarget(id); a != nil && !s.mayWrite(w, r, a) {
			return
		}
		rollback, err := s.b.CancelDeployment(r.Context(), id, force)
		if err != nil {
			writeError(w, err, subject)
			return
		}
		if force || rollback == "" {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		setDeploymentHeader(w, rollback)
		httpapi.WriteJSON(w, http.StatusOK, WriteResult{DeploymentID: rollback, Version: version(s.opts.Now())})
	default:
		httpapi.Allow(w, r, http.MethodGet, http.MethodDelete)
	}
}

// deploymentTarget is the app the deployment id touches (its current
// definition, or only its id when it is gone), nil for no such deployment.
func (s *server) deploymentTarget(id string) *app.App {
	for _, d := range s.b.Deployments() {
		if d.ID != id {
			continue
		}
		appID := deploymentApp(d)
		if a := s.findApp(appID); a != nil {
			return a
		}
		return &app.App{AppID: appID}
	}
	return nil
}

// QueueItem is one app with instances waiting to launch, in Marathon's
// /v2/queue shape plus Agora's plain Reasons.
type QueueItem struct {
	App   AppView    `json:"app"`
	Count int        `json:"count"`
	Delay QueueDelay `json:"delay"`
	// ProcessedOffersSummary and LastUnusedOffers are Marathon's account of
	// the last offers that did not take the instances.
	ProcessedOffersSummary OffersSummary `json:"processedOffersSummary"`
	LastUnusedOffers       []UnusedOffer `json:"lastUnusedOffers,omitempty"`
	// Reasons is Agora's: why each agent turned the next instance down.
	Reasons QueueReasons `json:"reasons"`
}

// QueueDelay is an app's launch backoff.
type QueueDelay struct {
	TimeLeftSeconds int64 `json:"timeLeftSeconds"`
	// Overdue: the backoff is over and the instances wait for offers.
	Overdue bool `json:"overdue"`
}

// OffersSummary is Marathon's processedOffersSummary.
type OffersSummary struct {
	ProcessedOffersCount    int             `json:"processedOffersCount"`
	UnusedOffersCount       int             `json:"unusedOffersCount"`
	RejectSummaryLastOffers []RejectSummary `json:"rejectSummaryLastOffers"`
}

// RejectSummary counts offers declined for one of Marathon's reasons.
type RejectSummary struct {
	Reason    string `json:"reason"`
	Declined  int    `json:"declined"`
	Processed int    `json:"processed"`
}

// UnusedOffer is one agent's offer that was not used, and why.
type UnusedOffer struct {
	Offer  OfferRef `json:"offer"`
	Reason []string `json:"reason"`
}

// OfferRef names the agent of an unused offer.
type OfferRef struct {
	AgentID string `json:"agentId"`
}

// QueueReasons explains in plain words why instances wait.
type QueueReasons struct {
	// Rejections counts agents per reason, most agents first.
	Rejections []placement.Rejection `json:"rejections"`
	// Constraints counts, per constraint ("hostname:UNIQUE"), the agents it
	// turned down.
	Constraints map[string]int `json:"constraints"`
	// Agents gives each offering agent's own reason, by agent id.
	Agents map[string]string `json:"agents"`
}

// Marathon's reject reasons, in the order its summary lists them.
var marathonReasons = []string{
	"UnfulfilledRole", "UnfulfilledConstraint", "NoCorrespondingReservationFound",
	"AgentMaintenance", "InsufficientCpus", "InsufficientMemory", "InsufficientDisk",
	"InsufficientGpus", "InsufficientPorts", "DeclinedScarceResources",
}

// marathonReason maps a placement reason to Marathon's name for it.
func marathonReason(reason string) string {
	switch {
	case strings.HasPrefix(reason, "insufficient cpus"):
		return "InsufficientCpus"
	case strings.HasPrefix(reason, "insufficient mem"):
		return "InsufficientMemory"
	case strings.HasPrefix(reason, "insufficient disk"):
		return "InsufficientDisk"
	case strings.HasPrefix(reason, "insufficient gpus"):
		return "InsufficientGpus"
	case strings.HasPrefix(reason, "insufficient ports"), strings.HasPrefix(reason, "host port"):
		return "InsufficientPorts"
	}
	return "UnfulfilledConstraint"
}

// queue serves GET /v2/queue (?embed=lastUnusedOffers adds the offers).
func (s *server) queue(w http.ResponseWriter, r *http.Request) {
	if !httpapi.Allow(w, r, http.MethodGet) {
		return
	}
	withOffers := false
	for _, e := range r.URL.Query()["embed"] {
		if e != "lastUnusedOffers" {
			httpapi.BadParam(w, "embed", e, "lastUnusedOffers")
			return
		}
		withOffers = true
	}
	apps := map[string]*app.App{}
	for _, a := range s.b.Apps() {
		apps[a.ID()] = a
	}
	ins := byApp(s.b.Instances(""))
	deps := s.b.Deployments()
	now := s.opts.Now()
	view := s.viewFilter(r)
	out := []QueueItem{}
	for _, q := range s.b.Queue() {
		if !view(q.AppID) {
			continue
		}
		a := apps[q.AppID]
		if a == nil {
			a = &app.App{AppID: q.AppID}
		}
		item := QueueItem{
			App:                    appView(a, ins[q.AppID], deps, embeds{}),
			Count:                  q.Count,
			Delay:                  QueueDelay{Overdue: true},
			ProcessedOffersSummary: offersSummary(q),
			Reasons:                queueReasons(q),
		}
		if left := q.DelayUntil.Sub(now); !q.DelayUntil.IsZero() && left > 0 {
			item.Delay = QueueDelay{TimeLeftSeconds: int64(math.Ceil(left.Seconds()))}
		}
		if withOffers {
			item.LastUnusedOffers = unusedOffers(q)
		}
		out = append(out, item)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"queue": out})
}

func offersSummary(q core.QueueEntry) OffersSummary {
	n := len(q.AgentReasons)
	declined := map[string]int{}
	for _, rj := range q.Rejections {
		declined[marathonReason(rj.Reason)] += rj.Agents
	}
	sum := OffersSummary{ProcessedOffersCount: n, UnusedOffersCount: n, RejectSummaryLastOffers: []RejectSummary{}}
	for _, reason := range marathonReasons {
		sum.RejectSummaryLastOffers = append(sum.RejectSummaryLastOffers, RejectSummary{Reason: reason, Declined: declined[reason], Processed: n})
	}
	return sum
}

func queueReasons(q core.QueueEntry) QueueReasons {
	out := QueueReasons{Rejections: q.Rejections, Constraints: map[string]int{}, Agents: q.AgentReasons}
	if out.Rejections == nil {
		out.Rejections = []placement.Rejection{}
	}
	if out.Agents == nil {
		out.Agents = map[string]string{}
	}
	for _, rj := range q.Rejections {
		if name, ok := strings.CutPrefix(rj.Reason, "constraint "); ok {
			out.Constraints[name] += rj.Agents
		}
	}
	return out
}

func unusedOffers(q core.QueueEntry) []UnusedOffer {
	out := []UnusedOffer{}
	for agent, reason := range q.AgentReasons {
		out = append(out, UnusedOffer{Offer: OfferRef{AgentID: agent}, Reason: []string{marathonReason(reason)}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Offer.AgentID < out[j].Offer.AgentID })
	return out
}

// queueDelay serves DELETE /v2/queue/{appId}/delay.
func (s *server) queueDelay(w http.ResponseWriter, r *http.Request) {
	rest := strings.Trim(r.PathValue("rest"), "/")
	appPart, ok := strings.CutSuffix(rest, "/delay")
	if !ok || appPart == "" {
		httpapi.WriteMessage(w, http.StatusNotFound, fmt.Sprintf("no such resource: %s", r.URL.Path))
		return
	}
	if !httpapi.Allow(w, r, http.MethodDelete) {
		return
	}
	id := "/" + strings.Trim(appPart, "/")
	if a := s.existingApp(w, id); a == nil || !s.mayWrite(w, r, a) {
		return
	}
	if err := s.b.ResetDelay(r.Context(), id); err != nil {
		writeError(w, err, appSubject(id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GroupView is a group of apps as /v2/groups lists it.
type GroupView struct {
	ID     string      `json:"id"`
	Apps   []AppView   `json:"apps"`
	Groups []GroupView `json:"groups"`
}

// groups serves GET /v2/groups and /v2/groups/{groupId}: groups are the
// paths above app ids.
func (s *server) groups(w http.ResponseWriter, r *http.Request) {
	if !httpapi.Allow(w, r, http.MethodGet) {
		return
	}
	gid := "/" + strings.Trim(r.PathValue("rest"), "/")
	ins := byApp(s.b.Instances(""))
	deps := s.b.Deployments()
	view := s.viewFilter(r)
	var apps []*app.App
	for _, a := range s.b.Apps() {
		if (gid == "/" || strings.HasPrefix(a.ID(), gid+"/")) && view(a.ID()) {
			apps = append(apps, a)
		}
	}
	if gid != "/" && len(apps) == 0 {
		httpapi.WriteMessage(w, http.StatusNotFound, fmt.Sprintf("Group '%s' does not exist", gid))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, buildGroup(gid, apps, ins, deps))
}

// buildGroup nests apps (all under gid) into groups by their paths.
func buildGroup(gid string, apps []*app.App, ins map[string][]core.Instance, deps []deploy.Deployment) GroupView {
	g := GroupView{ID: gid, Apps: []AppView{}, Groups: []GroupView{}}
	prefix := strings.TrimRight(gid, "/") + "/"
	sub := map[string][]*app.App{}
	var order []string
	for _, a := range apps {
		rest := strings.TrimPrefix(a.ID(), prefix)
		first, _, nested := strings.Cut(rest, "/")
		if !nested {
			g.Apps = append(g.Apps, appView(a, ins[a.ID()], deps, embeds{}))
			continue
		}
		child := prefix + first
		if _, seen := sub[child]; !seen {
			order = append(order, child)
		}
		sub[child] = append(sub[child], a)
	}
	sort.Strings(order)
	for _, child := range order {
		g.Groups = append(g.Groups, buildGroup(child, sub[child], ins, deps))
	}
	return g
}
