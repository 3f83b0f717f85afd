// Command envvars lists the environment variables that each docker-jitsi-meet image
// (web, prosody, jicofo, jvb, jibri) reads at run time, and prints them as the YAML data
// of the env var guard (fn/testdata/images/<tag>/env.yaml).
//
// It reads a plain export of jitsi/docker-jitsi-meet at one tag (no git needed):
//
//	git -C <git dir> archive stable-11146-2 | tar -x -C /tmp/djm
//	go run ./hack/envvars --repo /tmp/djm --tag stable-11146-2 --commit <sha> \
//	    --date 2026-12-03 --keep fn/testdata/images/stable-11146-2/env.yaml \
//	    --out fn/testdata/images/stable-11146-2/env.yaml
//
// What counts as "read":
//   - templates: every file under <component>/rootfs/defaults/ is rendered by jitsi/tpl (Go
//     templates with sprig); a name is read when an action ({{ ... }}) mentions .Env.NAME,
//     $.Env.NAME, $ALIAS.NAME for an alias bound with {{ $ALIAS := .Env }}, or env "NAME".
//   - shell scripts: every file under <component>/rootfs/ (outside defaults/) whose first line
//     is a sh/bash/execline shebang, or which is an s6-rc.d up/down/run/finish file. A name
//     ($NAME, ${NAME...}, bare names in $((...))) is read unless the script assigns it before
//     its first read (a local). Single-quoted text, comments and quoted heredocs are not scanned.
//     Scripts the image's Dockerfile runs at build time are skipped.
//   - the base images: the same scan over base/ and base-java/ when the component's Dockerfile
//     is built FROM them; such names carry "base: true".
//
// Names a rendering script (one that runs tpl) assigns unconditionally before it reads them
// and before it renders the templates never reach the templates from the container
// environment; they go to the "excluded" section. So do the names the --keep file lists under
// "excluded" (judgment calls, with the reason kept). required/reason come from --keep too.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// components are the images the guard covers, in output order.
var components = []string{"web", "prosody", "jicofo", "jvb", "jibri"}

// baseImages are the shared images of docker-jitsi-meet that others are built FROM.
var baseImages = map[string]bool{"base": true, "base-java": true}

// processVars are set by the kernel, the shell or the container runtime for every process;
// a script that reads them tells nothing about the image's configuration surface.
var processVars = map[string]bool{
	"HOME": true, "PATH": true, "PWD": true, "OLDPWD": true, "IFS": true, "RANDOM": true,
	"SECONDS": true, "LINENO": true, "UID": true, "EUID": true, "PPID": true, "SHLVL": true,
	"USER": true, "SHELL": true, "TERM": true,
}

// envName is the shape of the names we report: upper-case, as every variable the images
// document is. Lower-case shell variables in these scripts are all locals.
var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

func isEnvName(name string) bool {
	return envName.MatchString(name) && !processVars[name] && !strings.HasPrefix(name, "S6_")
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		slog.Error("envvars failed", "error", err)
		os.Exit(1)
	}
}

type options struct {
	repo, tag, commit, date, keep, out string
}

func run(args []string) error {
	var o options
	flags := flag.NewFlagSet("envvars", flag.ContinueOnError)
	flags.StringVar(&o.repo, "repo", "", "directory holding a plain export of jitsi/docker-jitsi-meet at --tag (required)")
	flags.StringVar(&o.tag, "tag", "", "docker-jitsi-meet tag the export was made from, e.g. stable-11146-2 (required)")
	flags.StringVar(&o.commit, "commit", "", "full commit sha of --tag (required)")
	flags.StringVar(&o.date, "date", time.Now().UTC().Format(time.DateOnly), "extraction date written to the header, YYYY-MM-DD")
	flags.StringVar(&o.keep, "keep", "", "existing env.yaml whose required/reason and excluded entries are kept")
	flags.StringVar(&o.out, "out", "", "file to write (default: standard output); may be the --keep file")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}

	kept := keptFile{}
	if o.keep != "" {
		var err error
		if kept, err = readKeep(o.keep); err != nil {
			return err
		}
	}

	result := map[string]*componentVars{}
	for _, c := range components {
		cv, err := scanComponent(o.repo, c)
		if err != nil {
			return fmt.Errorf("scanning component %s: %w", c, err)
		}
		result[c] = cv
	}
	if err := applyKept(result, kept); err != nil {
		return fmt.Errorf("applying --keep %s: %w", o.keep, err)
	}

	text := render(o, result)
	// The output must stay valid YAML whatever the reasons contain.
	var probe map[string]any
	if err := yaml.Unmarshal([]byte(text), &probe); err != nil {
		return fmt.Errorf("generated YAML does not parse: %w", err)
	}
	if o.out == "" {
		_, err := os.Stdout.WriteString(text)
		return err
	}
	if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
		return fmt.Errorf("writing --out %s: %w", o.out, err)
	}
	return nil
}

var (
	shaPattern  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

func (o options) validate() error {
	switch {
	case o.repo == "":
		return errors.New("--repo is required: a directory holding an export of docker-jitsi-meet")
	case o.tag == "":
		return errors.New("--tag is required: the docker-jitsi-meet tag of the export, e.g. stable-11146-2")
	case !shaPattern.MatchString(o.commit):
		return fmt.Errorf("--commit must be a full 40-character lower-case hex sha, got %q", o.commit)
	case !datePattern.MatchString(o.date):
		return fmt.Errorf("--date must be YYYY-MM-DD, got %q", o.date)
	}
	for _, c := range components {
		if st, err := os.Stat(filepath.Join(o.repo, c, "Dockerfile")); err != nil || st.IsDir() {
			return fmt.Errorf("--repo %s does not look like docker-jitsi-meet: %s/Dockerfile is missing", o.repo, c)
		}
	}
	return nil
}

// entry is one variable of one component.
type entry struct {
	files    map[string]bool
	base     bool
	required bool
	reason   string
}

type componentVars struct {
	read     map[string]*entry
	excluded map[string]*entry
}

func (cv *componentVars) add(name, file string, fromBase bool) {
	e := cv.read[name]
	if e == nil {
		e = &entry{files: map[string]bool{}}
		cv.read[name] = e
	}
	e.files[file] = true
	e.base = e.base || fromBase
}

// scanComponent collects the names read by one image and by the base images it is built on.
func scanComponent(repo, component string) (*componentVars, error) {
	cv := &componentVars{read: map[string]*entry{}, excluded: map[string]*entry{}}
	images, err := imageChain(repo, component)
	if err != nil {
		return nil, err
	}
	for _, image := range images {
		fromBase := image != component
		res, err := scanImage(repo, image)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", image, err)
		}
		for name, files := range res.reads {
			for f := range files {
				cv.add(name, f, fromBase)
			}
		}
		for name, ov := range res.overwritten {
			if _, ok := cv.excluded[name]; !ok {
				cv.excluded[name] = &entry{files: map[string]bool{}, reason: ov}
			}
		}
	}
	// The rendering script's value, not the container's, reaches the templates: their reads
	// move to excluded. Reads by other scripts still take the container's value and stay.
	for name, ex := range cv.excluded {
		e := cv.read[name]
		if e == nil {
			delete(cv.excluded, name)
			continue
		}
		ex.base = e.base
		for f := range e.files {
			if strings.Contains(f, "/rootfs/defaults/") {
				ex.files[f] = true
				delete(e.files, f)
			}
		}
		if len(ex.files) == 0 {
			delete(cv.excluded, name)
		}
		if len(e.files) == 0 {
			delete(cv.read, name)
		}
	}
	return cv, nil
}

var fromLine = regexp.MustCompile(`(?m)^FROM\s+\S*/([A-Za-z0-9._-]+):\S+\s*$`)

// imageChain returns the component followed by the base images it is built FROM, following
// the last FROM line of each Dockerfile (multi-stage builders come earlier).
func imageChain(repo, component string) ([]string, error) {
	chain := []string{component}
	for image := component; ; {
		df, err := os.ReadFile(filepath.Join(repo, image, "Dockerfile"))
		if err != nil {
			return nil, fmt.Errorf("reading %s/Dockerfile: %w", image, err)
		}
		m := fromLine.FindAllSubmatch(df, -1)
		if len(m) == 0 {
			return chain, nil
		}
		parent := string(m[len(m)-1][1])
		if !baseImages[parent] || slices.Contains(chain, parent) {
			return chain, nil
		}
		if _, err := os.Stat(filepath.Join(repo, parent, "Dockerfile")); err != nil {
			return nil, fmt.Errorf("%s is built FROM %s but %s/Dockerfile is missing: %w", image, parent, parent, err)
		}
		chain = append(chain, parent)
		image = parent
	}
}

type imageResult struct {
	reads       map[string]map[string]bool // name -> files
	overwritten map[string]string          // name -> reason
}

func scanImage(repo, image string) (*imageResult, error) {
	res := &imageResult{reads: map[string]map[string]bool{}, overwritten: map[string]string{}}
	note := func(name, file string) {
		if !isEnvName(name) {
			return
		}
		if res.reads[name] == nil {
			res.reads[name] = map[string]bool{}
		}
		res.reads[name][file] = true
	}
	dockerfile, err := os.ReadFile(filepath.Join(repo, image, "Dockerfile"))
	if err != nil {
		return nil, fmt.Errorf("reading Dockerfile: %w", err)
	}
	run := runText(string(dockerfile))

	root := filepath.Join(repo, image, "rootfs")
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(repo, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		inRootfs := strings.TrimPrefix(rel, image+"/rootfs/")
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", rel, err)
		}
		src := string(data)
		switch {
		case strings.HasPrefix(inRootfs, "defaults/"):
			for _, name := range templateReads(src) {
				note(name, rel)
			}
		case isScript(inRootfs, src):
			if isBuildTime(run, inRootfs) {
				return nil
			}
			sc := scanShell(src)
			for _, name := range sc.externalReads() {
				note(name, rel)
			}
			if sc.rendersTemplates {
				for _, name := range sc.overwrittenBeforeRender() {
					if isEnvName(name) {
						res.overwritten[name] = "set unconditionally by " + rel +
							" before it renders the templates: a value from the container environment is overwritten"
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// runText joins the RUN instructions of a Dockerfile into one line per instruction.
func runText(dockerfile string) string {
	var b strings.Builder
	inRun := false
	for _, line := range strings.Split(dockerfile, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "RUN") {
			inRun = true
			b.WriteString("\n")
		}
		if inRun {
			b.WriteString(strings.TrimSuffix(trimmed, `\`))
			b.WriteString(" ")
		}
		if !strings.HasSuffix(trimmed, `\`) {
			inRun = false
		}
	}
	return b.String()
}

// isBuildTime reports whether the Dockerfile's RUN instructions run the script installed at
// /inRootfs, by path or by its name in command position.
func isBuildTime(run, inRootfs string) bool {
	if strings.Contains(run, "/"+inRootfs) {
		return true
	}
	byName := regexp.MustCompile(`(^|\n|RUN|&&|\|\||;|\()\s*` + regexp.QuoteMeta(path.Base(inRootfs)) + `(\s|$)`)
	return byName.MatchString(run)
}

var (
	shebang  = regexp.MustCompile(`^#!\s*\S*(/sh|/bash|/dash|with-contenv|execlineb)\b`)
	s6rcFile = regexp.MustCompile(`(^|/)s6-rc\.d/[^/]+/(up|down|run|finish)$`)
)

func isScript(inRootfs, src string) bool {
	first, _, _ := strings.Cut(src, "\n")
	return shebang.MatchString(first) || s6rcFile.MatchString(inRootfs)
}

var (
	tplAction  = regexp.MustCompile(`(?s)\{\{-?(.*?)-?\}\}`)
	envField   = regexp.MustCompile(`\.Env\.([A-Za-z_][A-Za-z0-9_]*)`)
	envAlias   = regexp.MustCompile(`^\s*(\$[A-Za-z_][A-Za-z0-9_]*)\s*:?=\s*\$?\.Env\s*$`)
	envFuncArg = regexp.MustCompile(`\b(?:env|getenv)\s+"([A-Za-z_][A-Za-z0-9_]*)"`)
)

// templateReads returns the names a tpl template reads, in order of first use.
func templateReads(src string) []string {
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	actions := tplAction.FindAllStringSubmatch(src, -1)
	var aliases []*regexp.Regexp
	for _, a := range actions {
		if m := envAlias.FindStringSubmatch(a[1]); m != nil {
			aliases = append(aliases, regexp.MustCompile(regexp.QuoteMeta(m[1])+`\.([A-Za-z_][A-Za-z0-9_]*)`))
		}
	}
	for _, a := range actions {
		body := strings.TrimSpace(a[1])
		if strings.HasPrefix(body, "/*") {
			continue // template comment
		}
		for _, m := range envField.FindAllStringSubmatch(body, -1) {
			add(m[1])
		}
		for _, re := range aliases {
			for _, m := range re.FindAllStringSubmatch(body, -1) {
				add(m[1])
			}
		}
		for _, m := range envFuncArg.FindAllStringSubmatch(body, -1) {
			add(m[1])
		}
	}
	return names
}

// ---- keep file -------------------------------------------------------------------------

type keptEntry struct {
	Required bool   `json:"required,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

type keptFile struct {
	Components map[string]map[string]keptEntry `json:"components"`
	Excluded   map[string]map[string]keptEntry `json:"excluded"`
}

func readKeep(file string) (keptFile, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return keptFile{}, fmt.Errorf("reading --keep %s: %w", file, err)
	}
	var k keptFile
	if err := yaml.Unmarshal(data, &k); err != nil {
		return keptFile{}, fmt.Errorf("parsing --keep %s: %w", file, err)
	}
	for c, vars := range k.Components {
		if !slices.Contains(components, c) {
			return keptFile{}, fmt.Errorf("--keep %s: components.%s is not one of %v", file, c, components)
		}
		for n, e := range vars {
			if e.Required && strings.TrimSpace(e.Reason) == "" {
				return keptFile{}, fmt.Errorf("--keep %s: components.%s.%s.reason must say why the variable is required", file, c, n)
			}
		}
	}
	for c, vars := range k.Excluded {
		if !slices.Contains(components, c) {
			return keptFile{}, fmt.Errorf("--keep %s: excluded.%s is not one of %v", file, c, components)
		}
		for n, e := range vars {
			if strings.TrimSpace(e.Reason) == "" {
				return keptFile{}, fmt.Errorf("--keep %s: excluded.%s.%s.reason must say why the variable is excluded", file, c, n)
			}
		}
	}
	return k, nil
}

// applyKept carries required/reason over and applies the kept exclusions. A kept entry the
// scan no longer finds is an error: the image changed and the guard's data needs a review.
func applyKept(result map[string]*componentVars, k keptFile) error {
	for c, vars := range k.Excluded {
		cv := result[c]
		for n, e := range vars {
			if ex, ok := cv.excluded[n]; ok {
				ex.reason = e.Reason
				continue
			}
			r, ok := cv.read[n]
			if !ok {
				return fmt.Errorf("excluded.%s.%s: the %s image no longer reads %s; drop the entry", c, n, c, n)
			}
			r.reason = e.Reason
			cv.excluded[n] = r
			delete(cv.read, n)
		}
	}
	for c, vars := range k.Components {
		cv := result[c]
		for n, e := range vars {
			r, ok := cv.read[n]
			if !ok {
				if e.Required {
					return fmt.Errorf("components.%s.%s is marked required but the %s image no longer reads it", c, n, c)
				}
				continue
			}
			r.required, r.reason = e.Required, e.Reason
		}
	}
	return nil
}

// ---- output ----------------------------------------------------------------------------

func render(o options, result map[string]*componentVars) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Environment variables each docker-jitsi-meet image reads at run time: data of the env var guard.\n")
	w("# Source: jitsi/docker-jitsi-meet, tag %s, commit %s; extracted %s\n", o.tag, o.commit, o.date)
	w("# by hack/envvars (see its doc comment for what counts as a read). Per component: templates in\n")
	w("# <c>/rootfs/defaults/, shell scripts in <c>/rootfs/ (s6-overlay scripts and s6-rc.d run/up/finish,\n")
	w("# /opt/jitsi, /usr/local/bin, /usr/bin helpers), and the base images (base/, base-java/) the image is\n")
	w("# built FROM: names from there carry base: true (none at this tag). Not listed: locals, S6_*, process\n")
	w("# variables (HOME, PATH, ...), build-time scripts, and anything the Debian packages' own launchers\n")
	w("# read (jvb.sh, jicofo.sh, jibri). required/reason and the excluded entries' reasons are kept from\n")
	w("# the previous file; \"excluded\" lists names an image mentions but never takes from the container env.\n")
	w("# Regenerate (docker-jitsi-meet git dir from the mirror; no work tree needed):\n")
	w("#   rm -rf /tmp/djm && mkdir -p /tmp/djm\n")
	w("#   git -C <docker-jitsi-meet git dir> archive %s | tar -x -C /tmp/djm\n", o.tag)
	w("#   go run ./hack/envvars --repo /tmp/djm --tag %s --commit %s \\\n", o.tag, o.commit)
	w("#     --date %s --keep fn/testdata/images/%s/env.yaml --out fn/testdata/images/%s/env.yaml\n", o.date, o.tag, o.tag)
	w("source: {repository: jitsi/docker-jitsi-meet, tag: %s, commit: %s}\n", quoteIfNeeded(o.tag), o.commit)
	w("components:\n")
	for _, c := range components {
		writeSection(&b, c, result[c].read)
	}
	w("excluded:\n")
	for _, c := range components {
		writeSection(&b, c, result[c].excluded)
	}
	return b.String()
}

func writeSection(b *strings.Builder, component string, vars map[string]*entry) {
	if len(vars) == 0 {
		fmt.Fprintf(b, "  %s: {}\n", component)
		return
	}
	fmt.Fprintf(b, "  %s:\n", component)
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e := vars[n]
		files := make([]string, 0, len(e.files))
		for f := range e.files {
			files = append(files, f)
		}
		sort.Strings(files)
		fields := []string{"files: [" + strings.Join(files, ", ") + "]"}
		if e.base {
			fields = append(fields, "base: true")
		}
		if e.required {
			fields = append(fields, "required: true")
		}
		if e.reason != "" {
			fields = append(fields, "reason: "+quote(e.reason))
		}
		fmt.Fprintf(b, "    %s: {%s}\n", n, strings.Join(fields, ", "))
	}
}

// quote writes a YAML double-quoted scalar.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var plainScalar = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._/-]*$`)

func quoteIfNeeded(s string) string {
	if plainScalar.MatchString(s) {
		return s
	}
	return quote(s)
}

// ---- shell scanning --------------------------------------------------------------------

// shellEvent is one read or assignment of a variable, in source order.
type shellEvent struct {
	name          string
	assign        bool
	unconditional bool // top-level assignment, not in a branch, loop, function, subshell or && / || chain
}

type shellScan struct {
	events           []shellEvent
	rendersTemplates bool
	renderIndex      int // number of events seen before the first tpl command
}

// externalReads returns the names the script reads before it assigns them itself.
func (s *shellScan) externalReads() []string {
	assigned := map[string]bool{}
	seen := map[string]bool{}
	var out []string
	for _, e := range s.events {
		switch {
		case e.assign:
			assigned[e.name] = true
		case !assigned[e.name] && !seen[e.name]:
			seen[e.name] = true
			out = append(out, e.name)
		}
	}
	return out
}

// overwrittenBeforeRender returns the names the script sets unconditionally before any read
// of them and before its first tpl command.
func (s *shellScan) overwrittenBeforeRender() []string {
	readFirst := map[string]bool{}
	var out []string
	for i, e := range s.events {
		if i >= s.renderIndex {
			break
		}
		if !e.assign {
			readFirst[e.name] = true
			continue
		}
		if e.unconditional && !readFirst[e.name] && !slices.Contains(out, e.name) {
			out = append(out, e.name)
		}
	}
	return out
}

type frameKind int

const (
	frameCommand frameKind = iota // top level, $( ), ` `
	frameDQuote                   // " "
	frameParam                    // ${ }
	frameArith                    // $(( ))
)

type frame struct {
	kind     frameKind
	closer   byte // for command frames: 0 at top level, ')' for $( ), '`' for backticks
	inDQuote bool // param frames: whether single quotes are literal
	depth    int  // parentheses / braces nested inside this frame
	subshell bool // assignments here do not reach the script's environment
	cmdPos   bool // the next word is in command position
	word     strings.Builder
	literal  bool // the current word has only unquoted literal characters
	inWord   bool
	pending  string // assignment whose value is being scanned; recorded when the word ends
	declNext bool   // previous command word was export/local/declare/readonly/typeset
	readNext bool   // previous command word was read: further words name variables
	forNext  bool   // previous word was for/select: the next word names the loop variable
	chained  bool   // inside a && / || chain
	lastOp   string // the last control operator, to tell a line continued by && / || / | apart
	nest     int    // depth of if/while/for/case/{ }/( ) blocks: assignments inside are conditional
}

type shellScanner struct {
	src    string
	i      int
	frames []*frame
	out    shellScan
	// heredocs waiting for the end of the current line: delimiter and whether the body expands.
	heredocs []heredoc
}

type heredoc struct {
	delim  string
	expand bool
	strip  bool
}

func scanShell(src string) *shellScan {
	s := &shellScanner{src: src}
	s.push(&frame{kind: frameCommand, cmdPos: true})
	for s.i < len(s.src) {
		s.step()
	}
	s.endWord(s.top())
	if !s.out.rendersTemplates {
		s.out.renderIndex = len(s.out.events)
	}
	return &s.out
}

func (s *shellScanner) top() *frame   { return s.frames[len(s.frames)-1] }
func (s *shellScanner) push(f *frame) { s.frames = append(s.frames, f) }
func (s *shellScanner) pop()          { s.frames = s.frames[:len(s.frames)-1] }
func (s *shellScanner) peek(k int) byte {
	if s.i+k < len(s.src) {
		return s.src[s.i+k]
	}
	return 0
}

func (s *shellScanner) inSubshell() bool {
	for _, f := range s.frames[1:] {
		if f.kind == frameCommand {
			return true
		}
	}
	return false
}

func (s *shellScanner) read(name string) {
	s.out.events = append(s.out.events, shellEvent{name: name})
}

func (s *shellScanner) assign(name string, f *frame) {
	unconditional := !s.inSubshell() && f.nest == 0 && !f.chained
	s.out.events = append(s.out.events, shellEvent{name: name, assign: true, unconditional: unconditional})
}

var (
	assignWord = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\+?=`)
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)
	heredocOp  = regexp.MustCompile(`^<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)(['"]?)`)
)

func (s *shellScanner) step() {
	f := s.top()
	c := s.src[s.i]
	switch f.kind {
	case frameCommand:
		s.stepCommand(f, c)
	case frameDQuote:
		switch c {
		case '"':
			s.pop()
			s.i++
		case '\\':
			s.i += 2
		case '$':
			s.dollar()
		case '`':
			s.i++
			s.push(&frame{kind: frameCommand, closer: '`', cmdPos: true, subshell: true})
		default:
			s.i++
		}
	case frameParam:
		switch {
		case c == '}' && f.depth == 0:
			s.pop()
			s.i++
		case c == '}':
			f.depth--
			s.i++
		case c == '{':
			f.depth++
			s.i++
		case c == '\\':
			s.i += 2
		case c == '$':
			s.dollar()
		case c == '"':
			s.i++
			s.push(&frame{kind: frameDQuote})
		case c == '\'' && !f.inDQuote:
			s.skipSingleQuoted()
		case c == '`':
			s.i++
			s.push(&frame{kind: frameCommand, closer: '`', cmdPos: true, subshell: true})
		default:
			s.i++
		}
	case frameArith:
		switch {
		case c == '(':
			f.depth++
			s.i++
		case c == ')' && f.depth > 0:
			f.depth--
			s.i++
		case c == ')' && s.peek(1) == ')':
			s.pop()
			s.i += 2
		case c == ')':
			s.pop() // malformed; give up on this expansion
			s.i++
		case c == '$':
			s.dollar()
		default:
			if m := identifier.FindString(s.src[s.i:]); m != "" && !isIdentByte(s.prev()) {
				s.read(m)
				s.i += len(m)
				return
			}
			s.i++
		}
	}
}

func (s *shellScanner) prev() byte {
	if s.i == 0 {
		return 0
	}
	return s.src[s.i-1]
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func (s *shellScanner) skipSingleQuoted() {
	end := strings.IndexByte(s.src[s.i+1:], '\'')
	if end < 0 {
		s.i = len(s.src)
		return
	}
	s.i += end + 2
}

// dollar handles an expansion starting at s.i ('$').
func (s *shellScanner) dollar() {
	f := s.top()
	next := s.peek(1)
	switch {
	case next == '{':
		s.i += 2
		if c := s.peek(0); c == '#' || c == '!' {
			if m := identifier.FindString(s.src[s.i+1:]); m != "" {
				s.i++
			}
		}
		if m := identifier.FindString(s.src[s.i:]); m != "" {
			s.read(m)
			s.i += len(m)
		}
		inDQ := f.kind == frameDQuote || f.kind == frameParam && f.inDQuote
		s.push(&frame{kind: frameParam, inDQuote: inDQ})
	case next == '(' && s.peek(2) == '(':
		s.i += 3
		s.push(&frame{kind: frameArith})
	case next == '(':
		s.i += 2
		s.push(&frame{kind: frameCommand, closer: ')', cmdPos: true, subshell: true})
	case next == '\'' && f.kind == frameCommand:
		// $'...' (ANSI-C quoting): no expansions inside.
		s.i++
		for s.i++; s.i < len(s.src) && s.src[s.i] != '\''; s.i++ {
			if s.src[s.i] == '\\' {
				s.i++
			}
		}
		s.i++
	default:
		if m := identifier.FindString(s.src[s.i+1:]); m != "" {
			s.read(m)
			s.i += 1 + len(m)
			return
		}
		if strings.IndexByte("0123456789@*#?$!-", next) >= 0 {
			s.i += 2 // $1, $@, $?, $$, ...
			return
		}
		s.i++ // a lone '$' is literal
	}
}

func (s *shellScanner) stepCommand(f *frame, c byte) {
	if !f.inWord && c == '#' {
		for s.i < len(s.src) && s.src[s.i] != '\n' {
			s.i++
		}
		return
	}
	switch c {
	case ' ', '\t':
		s.endWord(f)
		s.i++
	case '\n':
		s.endWord(f)
		s.i++
		if f.lastOp != "&&" && f.lastOp != "||" && f.lastOp != "|" {
			f.chained = false
			f.newCommand()
		}
		f.lastOp = ""
		s.readHeredocBodies()
	case ';', '&', '|':
		s.endWord(f)
		op := string(c)
		if s.peek(1) == c {
			op += string(c)
		}
		s.i += len(op)
		switch op {
		case "&&", "||":
			f.chained = true
		case ";", "&", ";;":
			f.chained = false
		}
		f.lastOp = op
		f.newCommand()
	case '(':
		s.endWord(f)
		f.nest++
		f.depth++
		f.newCommand()
		s.i++
	case ')':
		s.endWord(f)
		if f.closer == ')' && f.depth == 0 {
			s.pop()
			s.i++
			return
		}
		f.depth--
		f.nest--
		s.i++
	case '`':
		s.endWord(f)
		if f.closer == '`' {
			s.pop()
			s.i++
			return
		}
		s.i++
		s.push(&frame{kind: frameCommand, closer: '`', cmdPos: true, subshell: true})
	case '<', '>':
		s.endWord(f)
		if m := heredocOp.FindStringSubmatch(s.src[s.i:]); m != nil && c == '<' {
			s.heredocs = append(s.heredocs, heredoc{delim: m[3], expand: m[2] == "", strip: m[1] == "-"})
			s.i += len(m[0])
			return
		}
		// A redirection operator: <, >, >>, <>, >&2, 2>&1, <&-.
		for s.i < len(s.src) && (s.src[s.i] == '<' || s.src[s.i] == '>') {
			s.i++
		}
		if s.peek(0) == '&' {
			s.i++
			for s.i < len(s.src) && (s.src[s.i] >= '0' && s.src[s.i] <= '9' || s.src[s.i] == '-') {
				s.i++
			}
		}
	default:
		s.wordChar(f, c)
	}
}

// wordChar handles a character that belongs to a word.
func (s *shellScanner) wordChar(f *frame, c byte) {
	if !f.inWord {
		f.inWord, f.literal = true, true
		f.word.Reset()
		if f.cmdPos || f.declNext {
			if m := assignWord.FindStringSubmatch(s.src[s.i:]); m != nil {
				f.pending = m[1]
				f.literal = false
				s.i += len(m[0])
				return
			}
		}
		if f.forNext || f.readNext {
			if m := identifier.FindString(s.src[s.i:]); m != "" && (len(s.src) == s.i+len(m) || strings.IndexByte(" \t\n;", s.src[s.i+len(m)]) >= 0) {
				s.assign(m, f)
				f.forNext = false
				f.literal = false
				s.i += len(m)
				return
			}
		}
	}
	switch c {
	case '\'':
		f.literal = false
		s.skipSingleQuoted()
	case '"':
		f.literal = false
		s.i++
		s.push(&frame{kind: frameDQuote})
	case '\\':
		f.literal = false
		s.i += 2
	case '$':
		f.literal = false
		s.dollar()
	default:
		f.word.WriteByte(c)
		s.i++
	}
}

// newCommand marks the start of a new simple command.
func (f *frame) newCommand() {
	f.cmdPos = true
	f.declNext, f.readNext, f.forNext = false, false, false
}

var (
	openers     = map[string]bool{"if": true, "while": true, "until": true, "for": true, "select": true, "case": true, "{": true}
	closers     = map[string]bool{"fi": true, "done": true, "esac": true, "}": true}
	keepCmdPos  = map[string]bool{"then": true, "do": true, "else": true, "elif": true, "!": true, "time": true}
	declBuiltin = map[string]bool{"export": true, "local": true, "declare": true, "readonly": true, "typeset": true}
)

// endWord closes the current word: records a pending assignment and tracks keywords.
func (s *shellScanner) endWord(f *frame) {
	if !f.inWord {
		return
	}
	f.inWord = false
	if f.pending != "" {
		s.assign(f.pending, f)
		f.pending = ""
		return // an assignment keeps the command position (X=1 cmd)
	}
	word := f.word.String()
	wasCmdPos := f.cmdPos
	f.cmdPos = false
	if !f.literal {
		f.declNext = f.declNext && !wasCmdPos
		return
	}
	if wasCmdPos {
		f.readNext = word == "read"
		f.declNext = declBuiltin[word]
		switch {
		case openers[word]:
			f.nest++
			f.cmdPos = word != "for" && word != "select" && word != "case"
			f.forNext = word == "for" || word == "select"
		case closers[word]:
			f.nest--
		case keepCmdPos[word]:
			f.cmdPos = true
		case word == "tpl" && len(s.frames) == 1 && !s.out.rendersTemplates:
			s.out.rendersTemplates = true
			s.out.renderIndex = len(s.out.events)
		}
	}
}

// readHeredocBodies consumes the bodies of heredocs opened on the line just ended.
func (s *shellScanner) readHeredocBodies() {
	for _, h := range s.heredocs {
		for s.i < len(s.src) {
			end := strings.IndexByte(s.src[s.i:], '\n')
			line := s.src[s.i:]
			if end >= 0 {
				line = s.src[s.i : s.i+end]
			}
			s.i += len(line) + 1
			check := line
			if h.strip {
				check = strings.TrimLeft(line, "\t")
			}
			if check == h.delim {
				break
			}
			if h.expand {
				sub := &shellScanner{src: line}
				sub.push(&frame{kind: frameDQuote})
				for sub.i < len(sub.src) {
					sub.step()
					if len(sub.frames) == 0 {
						sub.push(&frame{kind: frameDQuote})
					}
				}
				for _, e := range sub.out.events {
					s.read(e.name)
				}
			}
		}
		if s.i > len(s.src) {
			s.i = len(s.src)
		}
	}
	s.heredocs = nil
}
