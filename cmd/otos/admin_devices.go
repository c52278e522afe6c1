package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/otos-iot/otos"
	otoshttp "github.com/otos-iot/otos/http"
)

var deviceCommands = []command{
	{"list", "", "List devices", deviceList},
	{"show", "ID", "Show a device", byID(http.MethodGet, "/api/v1/devices/%s", printDevice)},
	{"disable", "ID", "Disable a device: its voucher no longer opens connections", deviceAction("disable")},
	{"enable", "ID", "Enable a disabled device", deviceAction("enable")},
	{"reset", "ID", "Void a device's voucher and let it register again", deviceAction("reset")},
	{"delete", "ID", "Delete a device (not a gateway that still has sub-devices)", deviceDelete},
	{"rotate", "ID", "Ask a device to rotate its voucher (--deadline: the current voucher expires then)", rotationRequest("device_id")},
	{"unbind-hardware", "ID", "Forget the hardware identity a device registered with, so that a new board can take its number (after a reset)",
		byID(http.MethodDelete, "/api/v1/devices/%s/hardware", printDevice)},
}

// rotationRequest is the setup of "devices rotate", "templates
// rotate-vouchers" and "tenants rotate-vouchers": a rotation request for the
// object whose id field names.
func rotationRequest(field string) func(*flag.FlagSet) action {
	return func(fs *flag.FlagSet) action {
		deadline := fs.String("deadline", "", "the current vouchers stop working after this `DURATION` (like 1h or 7d), unless rotated")
		return func(ctx context.Context, c *cli, id string) error {
			body := map[string]string{field: id}
			if *deadline != "" {
				if _, err := otos.ParseDuration(*deadline); err != nil {
					return usagef("--deadline: %v", err)
				}
				body["deadline_in"] = *deadline
			}
			return call(ctx, c, http.MethodPost, "/api/v1/rotation-requests", body, printRotationRequested)
		}
	}
}

func printRotationRequested(w io.Writer, r *otoshttp.RotationRequested) error {
	deadline := "none: the current vouchers keep working until rotated"
	if r.Deadline != nil {
		deadline = timestamp(r.Deadline)
	}
	return printFields(w, field{"devices asked to rotate", strconv.FormatInt(r.Devices, 10)}, field{"deadline", deadline})
}

func deviceList(fs *flag.FlagSet) action {
	l := defineListing(fs,
		fieldFlag{"template", "template_id", "only devices of this template `ID`"},
		fieldFlag{"product", "product_id", "only devices of this product `ID`"},
		fieldFlag{"parent", "parent_id", "only the sub-devices of this gateway `ID`"},
		fieldFlag{"number", "device_number", "only the device with this device `NUMBER`"},
		fieldFlag{"status", "status", "only devices with this `STATUS`: enabled or disabled"},
		fieldFlag{"expiring-within", "expiring_within", "only devices whose voucher expires within this `DURATION` (like 7d), or has expired"})
	return listOf("/api/v1/devices", l, deviceColumns)
}

// deviceAction is the setup of "device disable|enable|reset", which POST to
// /api/v1/devices/{id}/<verb> and answer the device.
func deviceAction(verb string) func(*flag.FlagSet) action {
	return byID(http.MethodPost, "/api/v1/devices/%s/"+verb, printDevice)
}

func deviceDelete(*flag.FlagSet) action {
	return func(ctx context.Context, c *cli, id string) error {
		if _, err := c.api.Call(ctx, http.MethodDelete, idPath("/api/v1/devices/%s", id), nil, nil); err != nil {
			return err
		}
		if c.json {
			return nil // 204: the API answers nothing
		}
		_, err := fmt.Fprintf(c.out, "device %s deleted\n", orDash(id))
		return err
	}
}

var deviceColumns = columns[otos.Device]{
	header: []string{"ID", "NUMBER", "NAME", "STATUS", "ONLINE", "FIRST CONNECTED", "VOUCHER EXPIRES"},
	row: func(d *otos.Device) []string {
		return []string{d.ID, d.DeviceNumber, d.Name, string(d.Status), yesNo(d.Online), timestamp(d.FirstConnectedAt),
			timestamp(d.VoucherExpiresAt)}
	},
}

func printDevice(w io.Writer, d *otos.Device) error {
	return printFields(w,
		field{"id", d.ID},
		field{"device number", d.DeviceNumber},
		field{"name", d.Name},
		field{"status", string(d.Status)},
		field{"online", yesNo(d.Online)},
		field{"template", d.TemplateID},
		field{"product", d.ProductID},
		field{"parent", d.ParentID},
		field{"sub-device address", d.SubDeviceAddr},
		field{"tenant", d.TenantID},
		field{"created", timestamp(&d.CreatedAt)},
		field{"updated", timestamp(&d.UpdatedAt)},
		field{"first connected", timestamp(d.FirstConnectedAt)},
		field{"last seen", timestamp(d.LastSeenAt)},
		field{"voucher expires", timestamp(d.VoucherExpiresAt)},
		field{"voucher rotated", timestamp(d.RotatedAt)},
		field{"previous voucher until", timestamp(d.PreviousUntil)},
		field{"rotation requested", timestamp(d.RotationRequestedAt)},
		field{"hardware bound", yesNo(d.Hardware.Bound())})
}
