package http

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/otos-iot/otos"
)

// Language is the language of response messages.
type Language int

// Languages.
const (
	English Language = iota
	Chinese
)

// language picks the language of an Accept-Language header: Chinese when its
// most preferred tag is zh or a zh variant, English otherwise.
func language(header string) Language {
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
		return Chinese
	}
	return English
}

// chinese holds the Chinese messages, kept close to ThingsPanel's.
var chinese = map[otos.Code]string{
	otos.EINVALID:         "请求参数错误",
	otos.ETOOLARGE:        "请求体过大",
	otos.EUNAUTHORIZED:    "未授权",
	otos.EFORBIDDEN:       "无权限",
	otos.ENOTFOUND:        "资源不存在",
	otos.ECONFLICT:        "资源冲突",
	otos.EUNAVAILABLE:     "服务暂不可用，请稍后重试",
	otos.EINTERNAL:        "系统错误",
	otos.ESECRETUNKNOWN:   "模板密钥不存在",
	otos.EREGISTRATIONOFF: "自动注册已关闭",
	otos.EDEVICEEXISTS:    "设备已存在",
	otos.EPRODUCTUNKNOWN:  "产品密钥不存在",
	otos.ESUBDEVICEFIELDS: "子设备地址以及父设备编号不能为空",
	otos.EPARENTUNKNOWN:   "父设备编号不存在",
	otos.ESUBADDRTAKEN:    "子设备地址已存在",
	otos.EBADSIGNATURE:    "签名校验失败",
	otos.ESTALE:           "时间戳超出允许范围，请校准设备时钟",
	otos.EREPLAY:          "随机数已被使用",
	otos.ENOTALLOWED:      "设备编号不在允许列表中",
	otos.ECAPREACHED:      "设备数量已达上限",
	otos.ERATELIMITED:     "请求过于频繁，请稍后重试",
}

// chineseReasons word field errors in Chinese, naming the field.
var chineseReasons = map[otos.Reason]string{
	otos.ReasonRequired:   "%s 不能为空",
	otos.ReasonTooLong:    "%s 长度超出限制",
	otos.ReasonControl:    "%s 不能包含控制字符",
	otos.ReasonWhitespace: "%s 首尾不能有空白字符",
	otos.ReasonType:       "%s 类型错误，应为字符串",
	otos.ReasonValue:      "%s 的值无效",
}

// successMessage is the message of code 200.
func successMessage(l Language) string {
	if l == Chinese {
		return "操作成功"
	}
	return "Success"
}

// message returns err's client-safe message in language l.
func message(err error, l Language) string {
	code := errorCode(err)
	if l != Chinese {
		if code == otos.EUNAVAILABLE {
			return "Service temporarily unavailable, try again later"
		}
		return otos.ErrorMessage(err)
	}
	field := otos.ErrorField(err)
	if code == otos.EINVALID && field != "" {
		if f, ok := chineseReasons[reason(err)]; ok {
			return "请求参数错误：" + fmt.Sprintf(f, field)
		}
	}
	if m, ok := chinese[code]; ok {
		return m
	}
	return chinese[otos.EINTERNAL]
}

func reason(err error) otos.Reason {
	if e := otos.AsError(err); e != nil {
		return e.Reason
	}
	return ""
}
