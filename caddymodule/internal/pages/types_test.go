package pages

import (
	"reflect"
	"testing"
)

// TestDataHoldsNoTrustedTypes: operators cannot inject raw HTML through
// data, because no data field has a type html/template trusts
// (template.HTML, template.URL, …): all are strings, bools, ints and
// slices and structs of those.
func TestDataHoldsNoTrustedTypes(t *testing.T) {
	t.Parallel()
	for _, d := range []any{ChooserData{}, LandingData{}, SignOutData{}, RedirectData{}, ErrorData{}} {
		checkPlainTypes(t, reflect.TypeOf(d), reflect.TypeOf(d).Name())
	}
}

// checkPlainTypes fails t if typ holds anything but strings, bools, ints,
// and slices and structs (of this package) of those.
func checkPlainTypes(t *testing.T, typ reflect.Type, path string) {
	t.Helper()
	if pkg := typ.PkgPath(); pkg != "" && pkg != reflect.TypeFor[Provider]().PkgPath() {
		t.Errorf("%s has type %s from %s", path, typ, pkg)
		return
	}
	switch typ.Kind() {
	case reflect.String, reflect.Bool, reflect.Int:
	case reflect.Slice:
		checkPlainTypes(t, typ.Elem(), path+"[]")
	case reflect.Struct:
		for i := range typ.NumField() {
			f := typ.Field(i)
			checkPlainTypes(t, f.Type, path+"."+f.Name)
		}
	default:
		t.Errorf("%s has kind %s", path, typ.Kind())
	}
}
