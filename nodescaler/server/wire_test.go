package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"

	pb "github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/externalgrpc"
)

// rawCodec sends a protobuf request and hands back the response exactly as it came off the
// wire, so the test reads the bytes a cluster-autoscaler of any version would read.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return proto.Marshal(v.(proto.Message)) }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

const servicePrefix = "/clusterautoscaler.cloudprovider.v1.externalgrpc.CloudProvider/"

func (f *fixture) raw(t *testing.T, method string, req proto.Message) []byte {
	t.Helper()
	var out []byte
	require.NoError(t, f.conn.Invoke(ctx(t), servicePrefix+method, req, &out, grpc.ForceCodec(rawCodec{})))
	return out
}

// fields decodes one level of a protobuf message: field number to its raw values.
func fields(t *testing.T, b []byte) map[protowire.Number][][]byte {
	t.Helper()
	out := map[protowire.Number][][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		require.GreaterOrEqual(t, n, 0, "bad tag")
		b = b[n:]
		var value []byte
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			require.GreaterOrEqual(t, m, 0)
			value, n = v, m
		case protowire.VarintType:
			_, m := protowire.ConsumeVarint(b)
			require.GreaterOrEqual(t, m, 0)
			value, n = b[:m], m
		case protowire.Fixed64Type:
			_, m := protowire.ConsumeFixed64(b)
			value, n = b[:m], m
		default:
			t.Fatalf("unexpected wire type %v for field %d", typ, num)
		}
		out[num] = append(out[num], value)
		b = b[n:]
	}
	return out
}

func varint(t *testing.T, b []byte) uint64 {
	t.Helper()
	v, n := protowire.ConsumeVarint(b)
	require.GreaterOrEqual(t, n, 0)
	return v
}

func TestWireTemplateNodeInfoCarriesBothEncodings(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 10))
	raw := f.raw(t, "NodeGroupTemplateNodeInfo", &pb.NodeGroupTemplateNodeInfoRequest{Id: "jvb"})
	top := fields(t, raw)

	require.Len(t, top[1], 1, "field 1 (k8s.io.api.core.v1.Node) is what CA 1.33 to 1.34.1 read")
	require.Len(t, top[2], 1, "field 2 (nodeBytes) is what CA 1.34.2 and later read")
	assert.Equal(t, top[1][0], top[2][0], "both fields carry the same Node")

	// Field 1 is read by the 1.33 client as an embedded k8s.io.api.core.v1.Node message, and
	// field 2 is unmarshalled with (*v1.Node).Unmarshal: the same bytes must work both ways.
	node := &corev1.Node{}
	require.NoError(t, node.Unmarshal(top[1][0]))
	assert.Equal(t, "jvb", node.Labels["jitsi.org/role"])
	assert.NotEmpty(t, node.Status.Allocatable)
}

func TestWireOptionsCarryBothDurationEncodings(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 10))
	defaults := &pb.NodeGroupAutoscalingOptions{
		ScaleDownUtilizationThreshold: 0.5,
		ScaleDownUnneededTime:         &pb.LegacyDuration{Duration: int64(10 * time.Minute)},
		ScaleDownUnreadyTime:          &pb.LegacyDuration{Duration: int64(20 * time.Minute)},
		MaxNodeProvisionTime:          &pb.LegacyDuration{Duration: int64(15*time.Minute + 500*time.Millisecond)},
	}
	raw := f.raw(t, "NodeGroupGetOptions", &pb.NodeGroupAutoscalingOptionsRequest{Id: "jvb", Defaults: defaults})
	top := fields(t, raw)
	require.Len(t, top[1], 1, "the response holds an options message")
	opts := fields(t, top[1][0])

	for legacy, modern := range map[protowire.Number]protowire.Number{3: 8, 4: 9, 5: 10} {
		require.Len(t, opts[legacy], 1, "legacy duration field %d (meta.v1.Duration) is present", legacy)
		require.Len(t, opts[modern], 1, "1.35+ duration field %d (google.protobuf.Duration) is present", modern)

		// meta.v1.Duration: { int64 duration = 1 } in nanoseconds.
		legacyFields := fields(t, opts[legacy][0])
		nanos := int64(varint(t, legacyFields[1][0]))

		// google.protobuf.Duration: { int64 seconds = 1; int32 nanos = 2 }.
		modernFields := fields(t, opts[modern][0])
		var seconds, frac int64
		if v := modernFields[1]; len(v) > 0 {
			seconds = int64(varint(t, v[0]))
		}
		if v := modernFields[2]; len(v) > 0 {
			frac = int64(varint(t, v[0]))
		}
		assert.Equal(t, nanos, seconds*int64(time.Second)+frac, "fields %d and %d carry the same duration", legacy, modern)
		assert.Positive(t, nanos)
	}
	// The group overrides the unneeded time to 5m: both encodings say so.
	assert.Equal(t, uint64(5*time.Minute), varint(t, fields(t, opts[3][0])[1][0]))
	assert.Equal(t, uint64(300), varint(t, fields(t, opts[8][0])[1][0]))
	// And the provision time kept its half second in both.
	assert.Equal(t, uint64(500*time.Millisecond), varint(t, fields(t, opts[10][0])[2][0]))
}
