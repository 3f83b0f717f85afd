package jitsiemu

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// jsonPath is a parsed JSONPath of the subset this double evaluates: the root $, child
// names (.name, ['name'], ["name"]), array indices ([0]) and wildcards (.* and [*]).
// kube-metrics-adapter evaluates full JSONPath with github.com/spyzhov/ajson; a path outside
// the subset is refused when the HPA is read, naming it.
type jsonPath []jsonStep

type jsonStep struct {
	name     string
	index    int
	isIndex  bool
	wildcard bool
}

func parseJSONPath(p string) (jsonPath, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("json-key %q: must start with $", p)
	}
	var steps jsonPath
	rest := p[1:]
	unsupported := func() error {
		return fmt.Errorf("json-key %q: this double evaluates only $, .name, ['name'], [index] and wildcards", p)
	}
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, ".."):
			return nil, unsupported()
		case strings.HasPrefix(rest, ".*"):
			steps, rest = append(steps, jsonStep{wildcard: true}), rest[2:]
		case rest[0] == '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			name := rest[1 : 1+end]
			if name == "" {
				return nil, unsupported()
			}
			steps, rest = append(steps, jsonStep{name: name}), rest[1+end:]
		case rest[0] == '[':
			end := strings.Index(rest, "]")
			if end < 0 {
				return nil, fmt.Errorf("json-key %q: unclosed [", p)
			}
			inner := strings.TrimSpace(rest[1:end])
			rest = rest[end+1:]
			switch {
			case inner == "*":
				steps = append(steps, jsonStep{wildcard: true})
			case len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0]:
				steps = append(steps, jsonStep{name: inner[1 : len(inner)-1]})
			default:
				i, err := strconv.Atoi(inner)
				if err != nil {
					return nil, unsupported()
				}
				steps = append(steps, jsonStep{index: i, isIndex: true})
			}
		default:
			return nil, unsupported()
		}
	}
	return steps, nil
}

// eval returns the nodes the path selects in doc (decoded with UseNumber).
func (p jsonPath) eval(doc any) []any {
	nodes := []any{doc}
	for _, s := range p {
		var next []any
		for _, n := range nodes {
			switch v := n.(type) {
			case map[string]any:
				switch {
				case s.wildcard:
					for _, k := range sortedKeys(v) {
						next = append(next, v[k])
					}
				case !s.isIndex:
					if c, ok := v[s.name]; ok {
						next = append(next, c)
					}
				}
			case []any:
				switch {
				case s.wildcard:
					next = append(next, v...)
				case s.isIndex:
					i := s.index
					if i < 0 {
						i += len(v)
					}
					if i >= 0 && i < len(v) {
						next = append(next, v[i])
					}
				}
			}
		}
		nodes = next
	}
	return nodes
}

// numericValue is kube-metrics-adapter's JSONPathMetricsGetter.GetMetric on the selected
// nodes (pkg/collector/httpmetrics/json_path.go): one number, or several (or an array)
// reduced by the aggregator; anything else is an error.
func numericValue(nodes []any, aggregate func(...float64) float64) (float64, error) {
	if len(nodes) == 0 {
		return 0, fmt.Errorf("unexpected json: expected single numeric or array value")
	}
	if len(nodes) == 1 {
		if arr, ok := nodes[0].([]any); ok {
			nodes = arr
		} else if n, ok := nodes[0].(json.Number); ok {
			return n.Float64()
		} else {
			return 0, fmt.Errorf("unsupported type %T", nodes[0])
		}
	}
	if aggregate == nil {
		return 0, fmt.Errorf("no aggregator function has been specified")
	}
	values := make([]float64, 0, len(nodes))
	for _, n := range nodes {
		num, ok := n.(json.Number)
		if !ok {
			return 0, fmt.Errorf("did not find numeric type: %T", n)
		}
		f, err := num.Float64()
		if err != nil {
			return 0, err
		}
		values = append(values, f)
	}
	return aggregate(values...), nil
}

// parseAggregator is kube-metrics-adapter's ParseAggregator (httpmetrics/aggregator.go).
func parseAggregator(name string) (func(...float64) float64, error) {
	switch name {
	case "avg":
		return func(v ...float64) float64 {
			sum := 0.0
			for _, x := range v {
				sum += x
			}
			return sum / float64(len(v))
		}, nil
	case "min", "max":
		return func(v ...float64) float64 {
			best := v[0]
			for _, x := range v[1:] {
				if (name == "min" && x < best) || (name == "max" && x > best) {
					best = x
				}
			}
			return best
		}, nil
	case "sum":
		return func(v ...float64) float64 {
			sum := 0.0
			for _, x := range v {
				sum += x
			}
			return sum
		}, nil
	}
	return nil, fmt.Errorf("aggregator function: %s is unknown (want avg, min, max or sum)", name)
}
