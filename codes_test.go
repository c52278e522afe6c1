package otos

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// declaredCodes returns the names and values of every Code constant in
// error.go, read from the source, so that a code added there without a row
// in the table fails TestCodeTable.
func declaredCodes(t *testing.T) map[string]Code {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Code{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for i, name := range vs.Names {
				lit := vs.Values[i].(*ast.BasicLit)
				out[name.Name] = Code(lit.Value[1 : len(lit.Value)-1])
			}
		}
	}
	return out
}

func TestCodeTable(t *testing.T) {
	declared := declaredCodes(t)
	if len(declared) != len(codes) || len(Codes()) != len(codes) {
		t.Errorf("error.go declares %d codes, the table has %d rows", len(declared), len(codes))
	}
	// EHARDWARE: guessing a serial under a known template secret looks like it.
	lockout := map[Code]bool{EUNAUTHORIZED: true, ESECRETUNKNOWN: true, EBADSIGNATURE: true, ESTALE: true, EREPLAY: true, EHARDWARE: true}
	for name, c := range declared {
		i, ok := codes[c]
		switch {
		case !ok:
			t.Errorf("%s (%q) has no row in the table of codes", name, c)
			continue
		case i.number < 100000 || i.number > 299999:
			t.Errorf("%s: wire number %d", name, i.number)
		case i.status < 400 || i.status > 599:
			t.Errorf("%s: HTTP status %d", name, i.status)
		case i.en == "" || i.zh == "":
			t.Errorf("%s: a message is missing: %q / %q", name, i.en, i.zh)
		case i.lockout != lockout[c]:
			t.Errorf("%s: counts toward the lock-out = %v", name, i.lockout)
		}
	}
	if Code("no-such").Number() != 100001 || Code("no-such").Status() != 500 {
		t.Error("an unknown code is not an internal error")
	}
}

func TestMessage(t *testing.T) {
	field := FieldError("device_number", ReasonRequired, "device_number is required")
	cases := []struct {
		err  error
		l    Language
		want string
	}{
		{field, English, "device_number is required"},
		{field, Chinese, "请求参数错误：device_number 不能为空"},
		{Errorf(ESECRETUNKNOWN, "Template secret does not exist"), Chinese, "模板密钥不存在"},
		{Errorf(EUNAVAILABLE, "pgx: connection refused"), English, "Service temporarily unavailable, try again later"},
		{errString("boom"), English, "Internal error"},
		{errString("boom"), Chinese, "系统错误"},
	}
	for _, c := range cases {
		if got := Message(c.err, c.l); got != c.want {
			t.Errorf("Message(%v, %d) = %q, want %q", c.err, c.l, got, c.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }
