package provision

import (
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// templateTTL bounds how long a node trusts a cached template: a change made
// on another node is seen within it even if no message arrives.
const templateTTL = 2 * time.Second

// templateCacheSize bounds the cache; when full it starts afresh.
const templateCacheSize = 10_000

// templateCache caches templates by the keyed hash of a secret, so that a
// registration storm costs no template read per request. Changes made here
// (update, rotation) drop the template's entries at once.
type templateCache struct {
	mu sync.Mutex
	m  map[string]cachedTemplate
}

type cachedTemplate struct {
	t     *otos.Template
	until time.Time
}

// get returns the template cached under key, if fresh at now. The template
// is shared: callers must not change it.
func (c *templateCache) get(key []byte, now time.Time) *otos.Template {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(key)]
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e.t
}

func (c *templateCache) put(key []byte, t *otos.Template, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= templateCacheSize {
		c.m = map[string]cachedTemplate{}
	}
	c.m[string(key)] = cachedTemplate{t: t, until: now.Add(templateTTL)}
}

// forget drops every entry of template id.
func (c *templateCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.t.ID == id {
			delete(c.m, k)
		}
	}
}
