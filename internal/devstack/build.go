package devstack

// Builds of the local stack's services, at start and on a reload (watch.go): with
// ko.yaml's settings (KoBuildSettings), several packages in one `go build -o DIR`, so a
// package they share is compiled once and their links run side by side, and a package
// that several services run (the gateway, the edges) is linked once.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// buildSettings are the environment and flags of the stack's builds: ko.yaml's
// (KoBuildSettings), or a debugger's with Options.Debug.
func (s *stackRun) buildSettings() (env, flags []string, err error) {
	env, flags, err = KoBuildSettings(s.o.SourceDir)
	if s.o.Debug {
		flags = debugFlags(flags)
	}
	return env, flags, err
}

// buildServices builds the packages of svcs and installs each service's binary at its
// binPath. It returns the packages that built; when any did not, the error holds the
// compiler's output, and the binaries of those that did are installed all the same.
func (s *stackRun) buildServices(ctx context.Context, svcs []Service) (map[string]bool, error) {
	byPkg := map[string][]Service{}
	var pkgs []string
	for _, svc := range svcs {
		if _, ok := byPkg[svc.Package]; !ok {
			pkgs = append(pkgs, svc.Package)
		}
		byPkg[svc.Package] = append(byPkg[svc.Package], svc)
	}
	if err := os.MkdirAll(filepath.Join(s.o.Dir, "bin"), 0o755); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	built := map[string]bool{}
	var errs []error
	for _, batch := range buildBatches(pkgs) {
		out, err := os.MkdirTemp(filepath.Join(s.o.Dir, "bin"), ".build-")
		if err != nil {
			return built, fmt.Errorf("build: %w", err)
		}
		err = s.goBuild(ctx, out, batch)
		if err != nil {
			errs = append(errs, err)
		}
		for _, pkg := range batch {
			bin := filepath.Join(out, filepath.Base(pkg))
			if _, statErr := os.Stat(bin); statErr != nil {
				if err == nil {
					errs = append(errs, fmt.Errorf("build %s: go build wrote no %s", pkg, bin))
				}
				continue
			}
			if err := s.install(bin, byPkg[pkg]); err != nil {
				errs = append(errs, err)
				continue
			}
			built[pkg] = true
		}
		_ = os.RemoveAll(out) // what is left is the temporary directory of a failed build
	}
	return built, errors.Join(errs...)
}

// buildBatches splits pkgs into as few lists as it can in which no two packages have
// the same last element: `go build -o DIR` names each binary after it.
func buildBatches(pkgs []string) [][]string {
	var batches [][]string
	var bases []map[string]bool
next:
	for _, pkg := range pkgs {
		base := filepath.Base(pkg)
		for i := range batches {
			if !bases[i][base] {
				bases[i][base] = true
				batches[i] = append(batches[i], pkg)
				continue next
			}
		}
		batches = append(batches, []string{pkg})
		bases = append(bases, map[string]bool{base: true})
	}
	return batches
}

// goBuild runs one go build of pkgs (main packages, relative to the source tree) into
// the directory out; a failure's error holds the compiler's output.
func (s *stackRun) goBuild(ctx context.Context, out string, pkgs []string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build %s: the go command is not on PATH", strings.Join(pkgs, " "))
	}
	env, flags, err := s.buildSettings()
	if err != nil {
		return fmt.Errorf("build %s: %w", strings.Join(pkgs, " "), err)
	}
	args := append(append(append([]string{"build"}, flags...), "-o", out+string(filepath.Separator)), pkgs...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = s.o.SourceDir
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, indent(strings.TrimSpace(string(b))))
	}
	return nil
}

// install moves the binary bin over the binary of each of svcs (which share its
// package): a process running the old one keeps it until it is started again.
func (s *stackRun) install(bin string, svcs []Service) error {
	for _, svc := range svcs[1:] {
		dst := s.binPath(svc.Name)
		if err := copyFile(bin, dst+".next"); err != nil {
			return fmt.Errorf("install the new %s: %w", svc.Name, err)
		}
		if err := os.Rename(dst+".next", dst); err != nil {
			return fmt.Errorf("install the new %s: %w", svc.Name, err)
		}
	}
	if err := os.Rename(bin, s.binPath(svcs[0].Name)); err != nil {
		return fmt.Errorf("install the new %s: %w", svcs[0].Name, err)
	}
	return nil
}

// copyFile copies the executable src to dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}
