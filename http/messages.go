package http

import (
	"strconv"
	"strings"

	"github.com/otos-iot/otos"
)

// language picks the language of an Accept-Language header: Chinese when its
// most preferred tag is zh or a zh variant, English otherwise. The messages
// themselves are the core's (otos.Message).
func language(header string) otos.Language {
	best, bestQ := "", -1.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if tag != "" && q > bestQ {
			best, bestQ = strings.ToLower(tag), q
		}
	}
	if best == "zh" || strings.HasPrefix(best, "zh-") {
		return otos.Chinese
	}
	return otos.English
}
