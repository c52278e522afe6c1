package otos

import (
	"fmt"
	"sort"
)

// CodeOK is the wire number of success.
const CodeOK = 200

// codeInfo is everything otos says about one code, whatever the protocol.
type codeInfo struct {
	number int    // the "code" field on the wire
	status int    // the HTTP status of an answer with this code
	en     string // the English message when the error carries none
	zh     string // the Chinese message, close to ThingsPanel's where it has one
	// lockout: the refusal counts toward the client's lock-out. Guessing
	// looks like these: a wrong secret or signature, a wrong broker
	// password or an unknown username. Nothing else counts, so that
	// successes and honest mistakes never throttle a factory.
	lockout bool
}

// codes is the one table of result codes; TestCodeTable checks that every
// code has every entry.
var codes = map[Code]codeInfo{
	EINVALID:         {100002, 400, "Invalid request", "请求参数错误", false},
	ETOOLARGE:        {100002, 413, "Request body too large", "请求体过大", false},
	EINTERNAL:        {100001, 500, "Internal error", "系统错误", false},
	EUNAVAILABLE:     {100003, 503, "Service temporarily unavailable, try again later", "服务暂不可用，请稍后重试", false},
	EUNAUTHORIZED:    {100004, 401, "Unauthorized", "未授权", true},
	EFORBIDDEN:       {100005, 403, "Forbidden", "无权限", false},
	ENOTFOUND:        {100006, 404, "Not found", "资源不存在", false},
	ECONFLICT:        {100007, 409, "Conflict", "资源冲突", false},
	ESECRETUNKNOWN:   {200080, 401, "Template secret does not exist", "模板密钥不存在", true},
	EREGISTRATIONOFF: {200081, 403, "Auto-registration is disabled", "自动注册已关闭", false},
	EDEVICEEXISTS:    {200082, 409, "Device already exists", "设备已存在", false},
	EPRODUCTUNKNOWN:  {200083, 400, "Product key does not exist", "产品密钥不存在", false},
	ESUBDEVICEFIELDS: {200084, 400, "Sub-device address and parent device number are required", "子设备地址以及父设备编号不能为空", false},
	EPARENTUNKNOWN:   {200085, 400, "Parent device does not exist", "父设备编号不存在", false},
	ESUBADDRTAKEN:    {200086, 409, "Sub-device address already exists", "子设备地址已存在", false},
	EBADSIGNATURE:    {200087, 401, "Signature does not verify", "签名校验失败", true},
	ESTALE:           {200088, 401, "Timestamp is outside the allowed window", "时间戳超出允许范围，请校准设备时钟", true},
	EREPLAY:          {200089, 401, "Nonce was already used", "随机数已被使用", true},
	ENOTALLOWED:      {200090, 403, "Device number is not on the allow-list", "设备编号不在允许列表中", false},
	ECAPREACHED:      {200091, 403, "The template has reached its device limit", "设备数量已达上限", false},
	ENOTGRANTED:      {200092, 403, "The gateway may not register sub-devices under this template", "网关无权在该模板下注册子设备", false},
	EROTATED:         {200093, 409, "The voucher was just rotated by another request", "凭证已被另一请求轮换", false},
	EEXPIRED:         {200094, 401, "The voucher has expired", "凭证已过期", false},
	EHARDWARE:        {200095, 403, "Hardware identity does not match the device's", "硬件标识与设备不符", true},
	ERATELIMITED:     {201003, 429, "Too many requests; retry shortly", "请求过于频繁，请稍后重试", false},
	ELOCKEDOUT:       {201003, 429, "Too many failed attempts from this address; retry later", "请求过于频繁，请稍后重试", false},
}

// Codes returns every code, ordered by wire number, for tests and
// documentation that must cover each one.
func Codes() []Code {
	out := make([]Code, 0, len(codes))
	for c := range codes {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := codes[out[i]], codes[out[j]]
		return a.number < b.number || a.number == b.number && out[i] < out[j]
	})
	return out
}

func (c Code) info() codeInfo {
	if i, ok := codes[c]; ok {
		return i
	}
	return codes[EINTERNAL]
}

// Number is the numeric result code sent on the wire in the "code" field.
func (c Code) Number() int { return c.info().number }

// Status is the HTTP status of an answer with code c.
func (c Code) Status() int { return c.info().status }

// CountsTowardLockout reports whether a refusal with code c counts toward
// the client's lock-out.
func (c Code) CountsTowardLockout() bool { return c.info().lockout }

// Text is the code's own message in language l, as an answer carries it
// when the error says nothing more.
func (c Code) Text(l Language) string {
	if l == Chinese {
		return c.info().zh
	}
	return c.info().en
}

// Language is the language of the messages an answer carries.
type Language int

// Languages.
const (
	English Language = iota
	Chinese
)

// reasonsZH word field errors in Chinese, naming the field.
var reasonsZH = map[Reason]string{
	ReasonRequired:   "%s 不能为空",
	ReasonTooLong:    "%s 长度超出限制",
	ReasonControl:    "%s 不能包含控制字符",
	ReasonWhitespace: "%s 首尾不能有空白字符",
	ReasonType:       "%s 类型错误，应为字符串",
	ReasonValue:      "%s 的值无效",
}

// SuccessMessage is the message of code 200 in language l.
func SuccessMessage(l Language) string {
	if l == Chinese {
		return "操作成功"
	}
	return "Success"
}

// Message returns err's client-safe message in language l: in English the
// error's own message (never the detail of an unavailable store), in Chinese
// the code's message, or for an invalid field one that names it.
func Message(err error, l Language) string {
	code := ErrorCode(err)
	if l != Chinese {
		if code == EUNAVAILABLE {
			return code.info().en
		}
		return ErrorMessage(err)
	}
	if e := AsError(err); e != nil && code == EINVALID && e.Field != "" {
		if f, ok := reasonsZH[e.Reason]; ok {
			return "请求参数错误：" + fmt.Sprintf(f, e.Field)
		}
	}
	return code.info().zh
}
