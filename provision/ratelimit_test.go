package provision

import (
	"errors"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

func TestAdmitRate(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s := New(Config{Now: func() time.Time { return now }})
	limited := &otos.Template{ID: "t1", RateLimit: 5}
	free := &otos.Template{ID: "t2"}
	for i := range 5 {
		if err := s.Registrar.admitRate(limited); err != nil {
			t.Fatalf("registration %d of 5: %v", i+1, err)
		}
	}
	err := s.Registrar.admitRate(limited)
	var e *otos.Error
	if !errors.As(err, &e) || e.Code != otos.ERATELIMITED || e.RetryAfter != 200*time.Millisecond {
		t.Fatalf("6th in a second: %#v, want ERATELIMITED after 200ms", err)
	}
	for range 100 {
		if err := s.Registrar.admitRate(free); err != nil {
			t.Fatalf("a template without a limit: %v", err)
		}
	}
	now = now.Add(200 * time.Millisecond)
	if err := s.Registrar.admitRate(limited); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}
