package http

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/otos-iot/otos"
)

// MaxAllowlistBody is the largest allow-list import body: 100,000 numbers of
// up to 100 characters fit.
const MaxAllowlistBody = 16 << 20

// AllowlistImported is the answer to an allow-list import.
type AllowlistImported struct {
	TemplateID string `json:"template_id"`
	Received   int    `json:"received"`
	Added      int    `json:"added"`
}

// importAllowlist serves POST /api/v1/templates/{id}/allowlist with a JSON
// body {"device_numbers":[…]} or a CSV body (text/csv or text/plain) whose
// first column holds the numbers, an optional "device_number" header first.
func (s *Server) importAllowlist(r *http.Request, p *otos.Principal) (int, any, error) {
	id, err := pathID(r, "template")
	if err != nil {
		return 0, nil, err
	}
	body, err := readBody(nil, r, MaxAllowlistBody)
	if err != nil {
		return 0, nil, err
	}
	var numbers []string
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "text/csv" || ct == "text/plain" {
		numbers, err = parseNumberCSV(body)
	} else {
		var b struct {
			DeviceNumbers []string `json:"device_numbers"`
		}
		err = otos.DecodeObject(body, &b, true)
		numbers = b.DeviceNumbers
	}
	if err != nil {
		return 0, nil, err
	}
	added, err := s.cfg.Admin.ImportAllowlist(r.Context(), p, id, numbers)
	return http.StatusOK, AllowlistImported{TemplateID: id, Received: len(numbers), Added: added}, err
}

// ParseNumberCSV reads device numbers from the first column of CSV text,
// skipping blank lines and a "device_number" header.
func parseNumberCSV(body []byte) ([]string, error) {
	rd := csv.NewReader(bytes.NewReader(body))
	rd.FieldsPerRecord = -1
	rd.TrimLeadingSpace = true
	var numbers []string
	for line := 1; ; line++ {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return numbers, nil
		}
		if err != nil {
			return nil, otos.FieldError("device_numbers", otos.ReasonSyntax, "CSV is malformed near line %d", line)
		}
		n := strings.TrimSpace(rec[0])
		if n == "" || line == 1 && strings.EqualFold(n, "device_number") {
			continue
		}
		numbers = append(numbers, n)
	}
}
