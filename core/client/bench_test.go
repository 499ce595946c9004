package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"agora/core/mesos"
	"agora/core/recordio"
	"agora/core/resources"
)

// BenchmarkEventStream measures how fast a scheduler takes OFFERS events
// (10 offers each, as a busy master sends them) off the RecordIO stream.
func BenchmarkEventStream(b *testing.B) {
	res := resources.Resources{CPUs: 4, Mem: 8192, Disk: 20000, Ports: resources.Ranges{{Begin: 31000, End: 32000}}}.ToMesos("web")
	offers := make([]mesos.Offer, 10)
	for i := range offers {
		offers[i] = mesos.Offer{ID: mesos.OfferID{Value: fmt.Sprintf("o-%d", i)}, FrameworkID: mesos.FrameworkID{Value: "fw-1"},
			AgentID: mesos.AgentID{Value: fmt.Sprintf("a-%d", i)}, Hostname: "10.0.0.1", Resources: res}
	}
	rec, _ := json.Marshal(mesos.Event{Type: mesos.EventOffers, Offers: &mesos.EventOffersBody{Offers: offers}})
	var stream bytes.Buffer
	sub, _ := json.Marshal(mesos.Event{Type: mesos.EventSubscribed, Subscribed: &mesos.EventSubscribedBody{FrameworkID: mesos.FrameworkID{Value: "fw-1"}}})
	_ = recordio.Write(&stream, sub)
	for range b.N {
		_ = recordio.Write(&stream, rec)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(StreamIDHeader, "s")
		_, _ = w.Write(stream.Bytes())
	}))
	defer srv.Close()

	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	b.ResetTimer()
	s := NewScheduler(srv.URL, nil)
	ch, err := s.Subscribe(context.Background(), mesos.FrameworkInfo{User: "u", Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for ev := range ch {
		if ev.Type == mesos.EventOffers {
			n++
		}
	}
	if n != b.N {
		b.Fatalf("got %d OFFERS events, want %d (%v)", n, b.N, s.Err())
	}
}
