package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"google.golang.org/protobuf/types/known/structpb"
)

// structOf converts a typed Kubernetes object into the protobuf Struct the function sends
// Crossplane, in one pass, by the rules of encoding/json: the result equals
// structpb.NewStruct(runtime.DefaultUnstructuredConverter.ToUnstructured(obj)), which
// TestStructOfMatchesTheUnstructuredConverter checks on every object the function composes.
// It exists because that two-step path (a map, then a Struct) was most of a reconcile's cost.
//
// Values whose type implements json.Marshaler (resource.Quantity, intstr.IntOrString,
// metav1.Time, ...) are marshalled and decoded again; every other value is walked by
// reflection, with each struct type's fields worked out once.
func structOf(obj any) (*structpb.Struct, error) {
	v, err := valueOf(reflect.ValueOf(obj))
	if err != nil {
		return nil, err
	}
	s := v.GetStructValue()
	if s == nil {
		return nil, fmt.Errorf("%T is not an object", obj)
	}
	return s, nil
}

var marshalerType = reflect.TypeFor[json.Marshaler]()

func valueOf(v reflect.Value) (*structpb.Value, error) {
	if !v.IsValid() {
		return structpb.NewNullValue(), nil
	}
	t := v.Type()
	if t.Implements(marshalerType) && (t.Kind() != reflect.Pointer || !v.IsNil()) {
		return marshalled(v.Interface().(json.Marshaler))
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(marshalerType) && v.CanAddr() {
		return marshalled(v.Addr().Interface().(json.Marshaler))
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(marshalerType) {
		c := reflect.New(t)
		c.Elem().Set(v)
		return marshalled(c.Interface().(json.Marshaler))
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return structpb.NewNullValue(), nil
		}
		return valueOf(v.Elem())
	case reflect.Struct:
		fields := make(map[string]*structpb.Value)
		if err := addFields(fields, v); err != nil {
			return nil, err
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields}), nil
	case reflect.Map:
		if v.IsNil() {
			return structpb.NewNullValue(), nil
		}
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("cannot convert a map keyed by %s", t.Key())
		}
		fields := make(map[string]*structpb.Value, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			e, err := valueOf(iter.Value())
			if err != nil {
				return nil, err
			}
			fields[iter.Key().String()] = e
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields}), nil
	case reflect.Slice:
		if v.IsNil() {
			return structpb.NewNullValue(), nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return structpb.NewStringValue(base64.StdEncoding.EncodeToString(v.Bytes())), nil
		}
		fallthrough
	case reflect.Array:
		values := make([]*structpb.Value, v.Len())
		for i := range values {
			e, err := valueOf(v.Index(i))
			if err != nil {
				return nil, err
			}
			values[i] = e
		}
		return structpb.NewListValue(&structpb.ListValue{Values: values}), nil
	case reflect.String:
		return structpb.NewStringValue(v.String()), nil
	case reflect.Bool:
		return structpb.NewBoolValue(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return structpb.NewNumberValue(float64(v.Int())), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return structpb.NewNumberValue(float64(v.Uint())), nil
	case reflect.Float32, reflect.Float64:
		return structpb.NewNumberValue(v.Float()), nil
	}
	return nil, fmt.Errorf("cannot convert a value of type %s", t)
}

// marshalled is a value that marshals itself: its JSON, decoded into a Value.
func marshalled(m json.Marshaler) (*structpb.Value, error) {
	b, err := m.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var decoded any
	if err := json.Unmarshal(b, &decoded); err != nil {
		return nil, err
	}
	return structpb.NewValue(decoded)
}

// jsonField is one field of a struct as encoding/json sees it.
type jsonField struct {
	index     int
	name      string
	omitEmpty bool
	omitZero  bool
	inline    bool
}

var jsonFieldsCache sync.Map // reflect.Type -> []jsonField

func jsonFields(t reflect.Type) []jsonField {
	if f, ok := jsonFieldsCache.Load(t); ok {
		return f.([]jsonField)
	}
	var fields []jsonField
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() && !sf.Anonymous {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := jsonField{index: i, name: name,
			omitEmpty: strings.Contains(","+opts+",", ",omitempty,"), omitZero: strings.Contains(","+opts+",", ",omitzero,")}
		if name == "" {
			if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
				f.inline = true
			} else {
				f.name = sf.Name
			}
		}
		fields = append(fields, f)
	}
	jsonFieldsCache.Store(t, fields)
	return fields
}

func addFields(into map[string]*structpb.Value, v reflect.Value) error {
	for _, f := range jsonFields(v.Type()) {
		fv := v.Field(f.index)
		if f.inline {
			if err := addFields(into, fv); err != nil {
				return err
			}
			continue
		}
		if (f.omitEmpty && isEmptyValue(fv)) || (f.omitZero && isZeroValue(fv)) {
			continue
		}
		e, err := valueOf(fv)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		into[f.name] = e
	}
	return nil
}

// isEmptyValue is encoding/json's rule for omitempty: structs are never empty.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// isZeroValue is encoding/json's rule for omitzero: the zero value, or IsZero says so.
func isZeroValue(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		return (v.Kind() == reflect.Pointer && v.IsNil()) || z.IsZero()
	}
	return v.IsZero()
}
