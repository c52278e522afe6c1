package storetest

import (
	"bytes"
	"sync"
	"testing"

	"github.com/otos-iot/otos"
)

func testServerKey(t *testing.T, s otos.Store) {
	// The store is new: no key yet.
	_, err := s.ServerKey(t.Context())
	wantCode(t, err, otos.ENOTFOUND)

	// Nodes starting at once each offer a key; all get the one that won.
	const nodes = 10
	offered := make([][]byte, nodes)
	got := make([][]byte, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		offered[i] = randomBytes()
		wg.Go(func() { got[i], errs[i] = s.InitServerKey(t.Context(), offered[i]) })
	}
	wg.Wait()
	won := -1
	for i := range nodes {
		must(t, errs[i])
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("node %d got key %x, node 0 got %x", i, got[i], got[0])
		}
		if bytes.Equal(got[i], offered[i]) {
			won = i
		}
	}
	if won < 0 {
		t.Fatal("the stored key is none of those offered")
	}

	// Later offers change nothing.
	again, err := s.InitServerKey(t.Context(), randomBytes())
	must(t, err)
	stored, err := s.ServerKey(t.Context())
	must(t, err)
	if !bytes.Equal(again, offered[won]) || !bytes.Equal(stored, offered[won]) {
		t.Errorf("after a later offer: InitServerKey %x, ServerKey %x; want %x", again, stored, offered[won])
	}
	_, err = s.InitServerKey(t.Context(), nil)
	wantField(t, err, otos.EINVALID, "key")
}
