package otos

// MaxSubDeviceBatch is the most sub-devices one gateway request registers.
const MaxSubDeviceBatch = 100

// SubDeviceRequest is one entry of a gateway's batch: a sub-device behind
// it, which it registers with its own voucher, not with a template secret.
type SubDeviceRequest struct {
	SubDeviceAddr string `json:"sub_device_addr"`
	DeviceNumber  string `json:"device_number"`
	DeviceName    string `json:"device_name,omitempty"`
	// ProductKey, or else TemplateID, chooses among the sub-device
	// templates the gateway's template grants; neither is needed when it
	// grants one.
	ProductKey string `json:"product_key,omitempty"`
	TemplateID string `json:"template_id,omitempty"`
}

// SubDeviceOutcome is what became of one entry: a voucher, or a refusal.
type SubDeviceOutcome struct {
	Request SubDeviceRequest
	Issued  *Issued
	Err     error
}

// SubDeviceResult is an outcome on the wire, in the entry's place.
type SubDeviceResult struct {
	DeviceNumber  string `json:"device_number"`
	SubDeviceAddr string `json:"sub_device_addr"`
	Code          int    `json:"code"`
	Message       string `json:"message"`
	DeviceID      string `json:"device_id,omitempty"`
	Voucher       string `json:"voucher,omitempty"`
}

// BatchReply is the answer to a gateway's batch: {code, message, data:
// {sub_devices: [...]}}, 200 when the batch was read, each entry with its
// own code; the batch's own code when it was not.
type BatchReply struct {
	Code    int        `json:"code"`
	Message string     `json:"message"`
	Data    *BatchData `json:"data,omitempty"`
}

// BatchData holds a batch's results, in the order of its entries.
type BatchData struct {
	SubDevices []SubDeviceResult `json:"sub_devices"`
}

// NewBatchReply returns the answer, in language l, to a batch whose entries
// came out as outs, or that failed as a whole with err.
func NewBatchReply(outs []SubDeviceOutcome, err error, l Language) BatchReply {
	if err != nil {
		return BatchReply{Code: ErrorCode(err).Number(), Message: Message(err, l)}
	}
	data := &BatchData{SubDevices: make([]SubDeviceResult, len(outs))}
	for i, o := range outs {
		r := NewAuthReply(o.Issued, o.Err, l)
		res := SubDeviceResult{DeviceNumber: o.Request.DeviceNumber, SubDeviceAddr: o.Request.SubDeviceAddr,
			Code: r.Code, Message: r.Message}
		if r.Data != nil {
			res.DeviceID, res.Voucher = r.Data.DeviceID, r.Data.Voucher
		}
		data.SubDevices[i] = res
	}
	return BatchReply{Code: CodeOK, Message: SuccessMessage(l), Data: data}
}

// DecodeSubDeviceBatch reads a gateway's batch, {"sub_devices": [...]} with
// 1 to MaxSubDeviceBatch entries. Every failure is an EINVALID error naming
// the field; each entry's own fields are the core's to check.
func DecodeSubDeviceBatch(body []byte) ([]SubDeviceRequest, error) {
	var b struct {
		SubDevices []SubDeviceRequest `json:"sub_devices"`
	}
	if err := DecodeObject(body, &b, false); err != nil {
		return nil, err
	}
	switch {
	case len(b.SubDevices) == 0:
		return nil, FieldError("sub_devices", ReasonRequired, "sub_devices must list at least one sub-device")
	case len(b.SubDevices) > MaxSubDeviceBatch:
		return nil, FieldError("sub_devices", ReasonTooLong, "sub_devices lists at most %d sub-devices a request", MaxSubDeviceBatch)
	}
	return b.SubDevices, nil
}

// Validate checks the entry's fields as AuthRequest.Validate checks a
// sub-device's, in the same order, with sub_device_addr required.
func (e *SubDeviceRequest) Validate() error {
	return validateFields([]fieldCheck{
		{"device_number", e.DeviceNumber, MaxDeviceNumberLen, true, true},
		{"device_name", e.DeviceName, MaxNameLen, false, false},
		{"product_key", e.ProductKey, MaxProductKeyLen, false, true},
		{"sub_device_addr", e.SubDeviceAddr, MaxSubDeviceAddrLen, true, true},
		{"template_id", e.TemplateID, 64, false, true},
	})
}
