package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxAnswer bounds how much of an admin API answer the client reads: a full
// page of 1000 devices is well under a megabyte.
const maxAnswer = 32 << 20

// Client calls the admin API of an otos server. It is what the otos command
// line uses; set BaseURL and Token before the first call.
type Client struct {
	// BaseURL is the server's root URL, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is the admin bearer token. It is sent only in the Authorization
	// header and appears in no error.
	Token string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// APIError is an error answer of the admin API.
type APIError struct {
	Status  int    // HTTP status
	Code    int    // otos result code; 0 when the body carried none
	Message string // the server's message, or the status text
	Field   string // the request field at fault, if the server named one
}

// Error reads e.g. "404 not found: device not found (code 100006)".
func (e *APIError) Error() string {
	text := http.StatusText(e.Status)
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Status))
	if text != "" {
		b.WriteString(" " + strings.ToLower(text))
	}
	if e.Message != "" && !strings.EqualFold(e.Message, text) {
		b.WriteString(": " + e.Message)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	return b.String()
}

// Call sends a request to path (e.g. "/api/v1/templates") with query and, when
// body is not nil, body as JSON. It returns the answer's JSON on a 2xx status
// (nil when there is none, as for 204), an *APIError on any other status, and
// an error naming the server when it cannot be reached.
func (c *Client) Call(ctx context.Context, method, path string, query url.Values, body any) (json.RawMessage, error) {
	req, err := c.newRequest(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL; say it once, below
		}
		return nil, fmt.Errorf("cannot reach the otos server at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read the answer of %s: %w", c.BaseURL, err)
	case len(data) > maxAnswer:
		return nil, fmt.Errorf("the answer of %s exceeds %d bytes", c.BaseURL, maxAnswer)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, decodeAPIError(resp.StatusCode, data)
	case len(bytes.TrimSpace(data)) == 0:
		return nil, nil
	case !json.Valid(data):
		return nil, fmt.Errorf("%s %s: the server at %s did not answer with JSON", method, path, c.BaseURL)
	}
	return data, nil
}

// ListAll gets the list at path page by page, following next_cursor from the
// cursor in query (if any) until the last page, and returns every item.
func (c *Client) ListAll(ctx context.Context, path string, query url.Values) ([]json.RawMessage, error) {
	q := maps.Clone(query)
	if q == nil {
		q = url.Values{}
	}
	items := []json.RawMessage{}
	for {
		raw, err := c.Call(ctx, http.MethodGet, path, q, nil)
		if err != nil {
			return nil, err
		}
		var page List[json.RawMessage]
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, fmt.Errorf("GET %s: not a list: %w", path, err)
		}
		items = append(items, page.Items...)
		if page.NextCursor == "" {
			return items, nil
		}
		if page.NextCursor == q.Get("cursor") {
			return nil, fmt.Errorf("GET %s: the server returned the same cursor twice", path)
		}
		q.Set("cursor", page.NextCursor)
	}
}

func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body any) (*http.Request, error) {
	u, err := url.Parse(strings.TrimRight(c.BaseURL, "/") + path)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", c.BaseURL, err)
	}
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", c.BaseURL, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// decodeAPIError reads the server's {"code","message","field"} error body,
// falling back to the status text when the body is something else (a proxy's
// HTML page, say).
func decodeAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status, Message: http.StatusText(status)}
	var b AdminError
	if json.Unmarshal(body, &b) == nil && b.Message != "" {
		e.Code, e.Message, e.Field = b.Code, b.Message, b.Field
	}
	return e
}
