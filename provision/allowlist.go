package provision

import (
	"context"
	"fmt"

	"github.com/otos-iot/otos"
)

// MaxAllowlistImport is the most device numbers one import may carry.
const MaxAllowlistImport = 100_000

// ImportAllowlist puts device numbers on the allow-list of a template of the
// scope and returns how many were new. Every number is checked first, so a
// bad one leaves the list as it was; the error names it by position
// ("device_numbers[17]").
func (s *Service) ImportAllowlist(ctx context.Context, sc Scope, templateID string, numbers []string) (int, error) {
	if len(numbers) == 0 {
		return 0, otos.FieldError("device_numbers", otos.ReasonRequired, "device_numbers is empty")
	}
	if len(numbers) > MaxAllowlistImport {
		return 0, otos.FieldError("device_numbers", otos.ReasonTooLong,
			"at most %d device numbers per import, got %d: split the list", MaxAllowlistImport, len(numbers))
	}
	for i, n := range numbers {
		if err := otos.ValidateDeviceNumber(fmt.Sprintf("device_numbers[%d]", i), n); err != nil {
			return 0, err
		}
	}
	if _, err := s.Template(ctx, sc, templateID); err != nil {
		return 0, err
	}
	added, err := s.store.AllowDevices(ctx, templateID, numbers, s.timestamp())
	if err != nil {
		return 0, fmt.Errorf("import allow-list: %w", err)
	}
	s.log.Info("allow-list imported", "template_id", templateID, "numbers", len(numbers), "added", added)
	return added, nil
}
