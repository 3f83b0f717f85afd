package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/benchday"
)

func TestRunWritesTheUniversityDay(t *testing.T) {
	out := filepath.Join(t.TempDir(), "university-day.csv")
	require.NoError(t, run(out))
	written, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, string(benchday.UniversityDayCSV()), string(written))

	assert.EqualError(t, run(""), "-o: must name the file to write, such as testdata/university-day.csv")
	assert.ErrorContains(t, run(filepath.Join(t.TempDir(), "missing", "x.csv")), "writing the university-day trace")
}
