package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/device"
)

// connectSubDevices is the --gateway mode: the connected gateway sess
// registers the sub-devices listed in file in one batch, and each one that
// gets a voucher keeps it in its own cache file and connects.
func connectSubDevices(ctx context.Context, cfg device.Config, sess *device.Session, file string, out io.Writer) ([]*device.Session, error) {
	entries, err := readSubDevices(file)
	if err != nil {
		return nil, err
	}
	results, err := sess.RegisterSubDevices(ctx, entries)
	if err != nil {
		return nil, err
	}
	var subs []*device.Session
	for _, r := range results {
		if r.Voucher == "" {
			fmt.Fprintf(out, "sub-device %s (%s): refused, code %d: %s\n", r.DeviceNumber, r.SubDeviceAddr, r.Code, r.Message)
			continue
		}
		sub := cfg
		sub.CachePath = "otos-device-" + unsafeFileChars.ReplaceAllString(r.DeviceNumber, "_") + ".json"
		s, err := device.ConnectSubDevice(ctx, sub, r)
		if err != nil {
			fmt.Fprintf(out, "sub-device %s (%s): registered, id %s, not connected: %v\n", r.DeviceNumber, r.SubDeviceAddr, r.DeviceID, err)
			continue
		}
		subs = append(subs, s)
		fmt.Fprintf(out, "sub-device %s (%s): registered and connected, id %s, voucher in %s\n", r.DeviceNumber, r.SubDeviceAddr, r.DeviceID, sub.CachePath)
	}
	return subs, nil
}

// readSubDevices reads the --gateway file: one sub-device a line,
// sub_device_addr,device_number[,device_name[,product_key]]; blank lines and
// lines starting with # are skipped.
func readSubDevices(file string) ([]otos.SubDeviceRequest, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--gateway: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord, r.Comment, r.TrimLeadingSpace = -1, '#', true
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("--gateway %s: %w", file, err)
	}
	var out []otos.SubDeviceRequest
	for i, row := range rows {
		if len(row) < 2 || len(row) > 4 {
			return nil, fmt.Errorf("--gateway %s line %d: want sub_device_addr,device_number[,device_name[,product_key]]", file, i+1)
		}
		e := otos.SubDeviceRequest{SubDeviceAddr: strings.TrimSpace(row[0]), DeviceNumber: strings.TrimSpace(row[1])}
		if len(row) > 2 {
			e.DeviceName = strings.TrimSpace(row[2])
		}
		if len(row) > 3 {
			e.ProductKey = strings.TrimSpace(row[3])
		}
		out = append(out, e)
	}
	if len(out) == 0 || len(out) > otos.MaxSubDeviceBatch {
		return nil, fmt.Errorf("--gateway %s: list 1 to %d sub-devices", file, otos.MaxSubDeviceBatch)
	}
	return out, nil
}
