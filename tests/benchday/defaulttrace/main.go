// Command defaulttrace writes the default "university day" trace of the lecture-day
// benchmark (benchday.UniversityDay) as CSV. Run by "go generate ./benchday" in tests/:
//
//	go run ./benchday/defaulttrace -o benchday/testdata/university-day.csv
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/benchday"
)

func main() {
	out := flag.String("o", "", "the file to write (required)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "defaulttrace:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if out == "" {
		return fmt.Errorf("-o: must name the file to write, such as testdata/university-day.csv")
	}
	if err := os.WriteFile(out, benchday.UniversityDayCSV(), 0o644); err != nil {
		return fmt.Errorf("writing the university-day trace: %w", err)
	}
	return nil
}
