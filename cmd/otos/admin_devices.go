package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/otos-iot/otos"
)

var deviceCommands = []command{
	{"list", "", "List devices", deviceList},
	{"show", "ID", "Show a device", byID(http.MethodGet, "/api/v1/devices/%s", printDevice)},
	{"disable", "ID", "Disable a device: its voucher no longer opens connections", deviceAction("disable")},
	{"enable", "ID", "Enable a disabled device", deviceAction("enable")},
	{"reset", "ID", "Void a device's voucher and let it register again", deviceAction("reset")},
	{"delete", "ID", "Delete a device (not a gateway that still has sub-devices)", deviceDelete},
}

func deviceList(fs *flag.FlagSet) action {
	l := defineListing(fs,
		fieldFlag{"template", "template_id", "only devices of this template `ID`"},
		fieldFlag{"product", "product_id", "only devices of this product `ID`"},
		fieldFlag{"parent", "parent_id", "only the sub-devices of this gateway `ID`"},
		fieldFlag{"number", "device_number", "only the device with this device `NUMBER`"},
		fieldFlag{"status", "status", "only devices with this `STATUS`: enabled or disabled"})
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
	header: []string{"ID", "NUMBER", "NAME", "STATUS", "ONLINE", "FIRST CONNECTED"},
	row: func(d *otos.Device) []string {
		return []string{d.ID, d.DeviceNumber, d.Name, string(d.Status), yesNo(d.Online), timestamp(d.FirstConnectedAt)}
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
		field{"last seen", timestamp(d.LastSeenAt)})
}
