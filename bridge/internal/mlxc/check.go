package mlxc

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ErrBadLibrary is wrapped when a file cannot be a loadable shared library
// for this process: empty, truncated, not ELF / Mach-O, another CPU
// architecture, not a shared object, or malformed.
var ErrBadLibrary = errors.New("bridge: unusable library file")

// ErrNotMLXC is wrapped when a valid shared library is not mlx-c: it
// exports none of mlx-c's defining symbols (libmlx itself, libz, ...).
var ErrNotMLXC = errors.New("bridge: not an mlx-c library")

// definingSymbols are exported by every mlx-c generation; a library with
// none of them is not mlx-c at all (as opposed to an old or partial one).
var definingSymbols = []string{"mlx_set_error_handler", "mlx_array_new", "mlx_version"}

// Check inspects the libmlxc at path without loading it, for this
// process's GOOS and GOARCH. See CheckFor.
func Check(path string) error {
	_, err := checkFile(path, runtime.GOOS, runtime.GOARCH, true)
	return err
}

// CheckFor inspects the shared library at path as the dynamic loader of
// goos/goarch would see it, without loading it: the file must be an ELF
// (linux) or Mach-O (darwin, thin or universal: the goarch slice) shared
// library for goarch whose segments all lie inside the file, and (when
// mlxc is true) export the mlx-c symbols Load needs. Loading a truncated
// file crashes the process with SIGBUS inside the loader, so Load runs
// this first.
//
// Errors are one line naming the file (%q) and wrap ErrBadLibrary,
// ErrNotMLXC, ErrABI or ErrSymbol, or ErrLoad when the file cannot be
// opened.
func CheckFor(path, goos, goarch string, mlxc bool) error {
	_, err := checkFile(path, goos, goarch, mlxc)
	return err
}

// fileInfo is what the check learnt about a library, for the hints after
// a failed dlopen.
type fileInfo struct {
	path   string
	goos   string
	needed []string // DT_NEEDED (ELF) or LC_LOAD_DYLIB names (Mach-O)
	rpaths []string // DT_RPATH, DT_RUNPATH (ELF) or LC_RPATH (Mach-O), unexpanded
}

const (
	elfHeaderSize  = 64
	elfPhdrSize    = 56
	machoHeaderLen = 32
)

func bad(path, format string, args ...any) error {
	return fmt.Errorf("%w: %q: %s", ErrBadLibrary, path, fmt.Sprintf(format, args...))
}

func checkFile(path, goos, goarch string, mlxc bool) (*fileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrLoad, path, unwrapPathErr(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadLibrary, path, unwrapPathErr(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, bad(path, "not a regular file (%v)", fi.Mode().Type())
	}
	size := fi.Size()
	if size == 0 {
		return nil, bad(path, "empty file (0 bytes)")
	}
	var magic [4]byte
	n, _ := f.ReadAt(magic[:], 0)
	m := magic[:n]
	isELF := bytes.Equal(m, []byte(elf.ELFMAG))
	isMachO := isMachOMagic(m)
	switch {
	case goos == "darwin" && isMachO:
		return checkMachO(f, path, size, goarch, mlxc)
	case goos != "darwin" && isELF:
		return checkELF(f, path, size, goarch, mlxc)
	case isELF:
		return nil, bad(path, "an ELF file, but %s loads Mach-O libraries", goos)
	case isMachO:
		return nil, bad(path, "a Mach-O file, but %s loads ELF libraries", goos)
	}
	return nil, bad(path, "not a shared library (no ELF or Mach-O header, %d bytes)", size)
}

// isMachOMagic reports whether m is a whole Mach-O magic (thin, either
// byte order) or a universal one (fat_header or fat_header_64, big-endian).
func isMachOMagic(m []byte) bool {
	if len(m) != 4 {
		return false
	}
	switch binary.BigEndian.Uint32(m) {
	case macho.Magic64, macho.Magic32, macho.MagicFat, macho.MagicFat + 1:
		return true
	}
	switch binary.LittleEndian.Uint32(m) {
	case macho.Magic64, macho.Magic32:
		return true
	}
	return false
}

// unwrapPathErr drops the *PathError's own copy of the path.
func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// within reports whether [off, off+n) lies inside a file of size bytes.
func within(off, n uint64, size int64) bool {
	end := off + n
	return end >= off && end <= uint64(size)
}

var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func checkELF(f *os.File, path string, size int64, goarch string, mlxc bool) (*fileInfo, error) {
	l, err := readELFHeader(f, path, size, goarch)
	if err != nil {
		return nil, err
	}
	if err := l.checkExtents(f, path, size); err != nil {
		return nil, err
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, bad(path, "malformed ELF: %v", err)
	}
	info := elfInfo(path, ef)
	if !mlxc {
		return info, nil
	}
	syms, err := ef.DynamicSymbols()
	if err != nil {
		return nil, bad(path, "no dynamic symbol table: %v", err)
	}
	defined := elfDefined(syms)
	if _, err := identify(path, func(name string) bool { return defined[name] }); err != nil {
		return nil, err
	}
	return info, nil
}

// elfLayout is where an ELF file's program and section header tables lie,
// as its header says.
type elfLayout struct {
	phoff, shoff     uint64
	phentsize, phnum uint16
	shentsize, shnum uint16
}

// readELFHeader reads the ELF header and checks that it describes a 64-bit
// little-endian shared object for goarch.
func readELFHeader(f *os.File, path string, size int64, goarch string) (elfLayout, error) {
	if size < elfHeaderSize {
		return elfLayout{}, bad(path, "truncated: %d bytes, shorter than an ELF header", size)
	}
	var h [elfHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return elfLayout{}, bad(path, "read ELF header: %v", err)
	}
	want, ok := elfMachines[goarch]
	if !ok {
		return elfLayout{}, bad(path, "no ELF machine known for %s", goarch)
	}
	if elf.Class(h[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(h[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return elfLayout{}, bad(path, "wrong architecture: %v %v, need 64-bit little-endian %v for %s",
			elf.Class(h[elf.EI_CLASS]), elf.Data(h[elf.EI_DATA]), want, goarch)
	}
	le := binary.LittleEndian
	typ, mach := elf.Type(le.Uint16(h[0x10:])), elf.Machine(le.Uint16(h[0x12:]))
	if mach != want {
		return elfLayout{}, bad(path, "wrong architecture: %v, need %v for %s", mach, want, goarch)
	}
	if typ != elf.ET_DYN {
		return elfLayout{}, bad(path, "not a shared library (%v)", typ)
	}
	return elfLayout{
		phoff: le.Uint64(h[0x20:]), shoff: le.Uint64(h[0x28:]),
		phentsize: le.Uint16(h[0x36:]), phnum: le.Uint16(h[0x38:]),
		shentsize: le.Uint16(h[0x3a:]), shnum: le.Uint16(h[0x3c:]),
	}, nil
}

// checkExtents checks that the program headers, the loaded and dynamic
// segments they describe, and the section headers all lie inside the file.
func (l elfLayout) checkExtents(f *os.File, path string, size int64) error {
	if l.phnum == 0 || l.phentsize != elfPhdrSize {
		return bad(path, "malformed ELF: %d program headers of %d bytes", l.phnum, l.phentsize)
	}
	if !within(l.phoff, uint64(l.phnum)*elfPhdrSize, size) {
		return bad(path, "truncated: program headers end at byte %d, the file has %d", l.phoff+uint64(l.phnum)*elfPhdrSize, size)
	}
	ph := make([]byte, int(l.phnum)*elfPhdrSize)
	if _, err := f.ReadAt(ph, int64(l.phoff)); err != nil {
		return bad(path, "read program headers: %v", err)
	}
	le := binary.LittleEndian
	for i := range int(l.phnum) {
		p := ph[i*elfPhdrSize:]
		typ := elf.ProgType(le.Uint32(p))
		if typ != elf.PT_LOAD && typ != elf.PT_DYNAMIC {
			continue
		}
		off, filesz := le.Uint64(p[8:]), le.Uint64(p[32:])
		if !within(off, filesz, size) {
			return bad(path, "truncated: segment %d (%v) ends at byte %d, the file has %d", i, typ, off+filesz, size)
		}
	}
	if l.shnum > 0 && !within(l.shoff, uint64(l.shnum)*uint64(l.shentsize), size) {
		return bad(path, "truncated: section headers end at byte %d, the file has %d", l.shoff+uint64(l.shnum)*uint64(l.shentsize), size)
	}
	return nil
}

// elfInfo collects the libraries and search paths an ELF library names.
func elfInfo(path string, ef *elf.File) *fileInfo {
	info := &fileInfo{path: path, goos: "linux"}
	info.needed, _ = ef.DynString(elf.DT_NEEDED)
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		vs, _ := ef.DynString(tag)
		for _, v := range vs {
			info.rpaths = append(info.rpaths, filepath.SplitList(v)...)
		}
	}
	return info
}

// elfDefined is the set of global or weak symbols an ELF library defines.
func elfDefined(syms []elf.Symbol) map[string]bool {
	defined := make(map[string]bool, len(syms))
	for _, s := range syms {
		b := elf.ST_BIND(s.Info)
		if s.Section != elf.SHN_UNDEF && (b == elf.STB_GLOBAL || b == elf.STB_WEAK) {
			defined[s.Name] = true
		}
	}
	return defined
}

var machoCPUs = map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}

func checkMachO(f *os.File, path string, size int64, goarch string, mlxc bool) (*fileInfo, error) {
	want, ok := machoCPUs[goarch]
	if !ok {
		return nil, bad(path, "no Mach-O CPU type known for %s", goarch)
	}
	r, size, err := machoSlice(f, path, size, want, goarch)
	if err != nil {
		return nil, err
	}
	ncmds, sizeofcmds, err := readMachOHeader(r, path, size, want, goarch)
	if err != nil {
		return nil, err
	}
	if err := checkMachOSegments(r, path, size, ncmds, sizeofcmds); err != nil {
		return nil, err
	}
	mf, err := macho.NewFile(r)
	if err != nil {
		return nil, bad(path, "malformed Mach-O: %v", err)
	}
	info := machoInfo(path, mf)
	if !mlxc || mf.Symtab == nil {
		// Without a symbol table (not seen in practice) dlsym decides.
		return info, nil
	}
	defined := machoDefined(mf.Symtab)
	if _, err := identify(path, func(name string) bool { return defined[name] }); err != nil {
		return nil, err
	}
	return info, nil
}

// machoSlice returns the thin Mach-O image in f and its size: f itself, or
// for a universal file the slice for want.
func machoSlice(f *os.File, path string, size int64, want macho.Cpu, goarch string) (io.ReaderAt, int64, error) {
	var magic [8]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil {
		return nil, 0, bad(path, "truncated: %d bytes, shorter than a Mach-O header", size)
	}
	m := binary.BigEndian.Uint32(magic[:])
	if m != macho.MagicFat && m != macho.MagicFat+1 {
		return f, size, nil
	}
	// Universal file: find the slice for goarch (fat_arch entries are
	// big-endian; fat_arch_64 has 64-bit offset and size).
	wide := m == macho.MagicFat+1
	entry := 20
	if wide {
		entry = 32
	}
	nfat := binary.BigEndian.Uint32(magic[4:])
	if nfat == 0 || nfat > 64 {
		return nil, 0, bad(path, "malformed universal file: %d architectures", nfat)
	}
	if !within(8, uint64(nfat)*uint64(entry), size) {
		return nil, 0, bad(path, "truncated: universal header ends at byte %d, the file has %d", 8+uint64(nfat)*uint64(entry), size)
	}
	tab := make([]byte, int(nfat)*entry)
	if _, err := f.ReadAt(tab, 8); err != nil {
		return nil, 0, bad(path, "read universal header: %v", err)
	}
	off, n, have, found := findFatArch(tab, entry, wide, want)
	if !found {
		return nil, 0, bad(path, "wrong architecture: universal file for %s, need %v for %s", strings.Join(have, ", "), want, goarch)
	}
	if !within(off, n, size) {
		return nil, 0, bad(path, "truncated: the %v slice ends at byte %d, the file has %d", want, off+n, size)
	}
	return io.NewSectionReader(f, int64(off), int64(n)), int64(n), nil
}

// findFatArch looks up want in a universal file's table of entry-byte
// fat_arch (or, when wide, fat_arch_64) records: the first match's offset
// and size, and the CPU types of all records.
func findFatArch(tab []byte, entry int, wide bool, want macho.Cpu) (off, n uint64, have []string, found bool) {
	be := binary.BigEndian
	for i := 0; i+entry <= len(tab); i += entry {
		e := tab[i:]
		cpu := macho.Cpu(be.Uint32(e))
		have = append(have, cpu.String())
		if cpu != want || found {
			continue
		}
		found = true
		if wide {
			off, n = be.Uint64(e[8:]), be.Uint64(e[16:])
		} else {
			off, n = uint64(be.Uint32(e[8:])), uint64(be.Uint32(e[12:]))
		}
	}
	return off, n, have, found
}

// readMachOHeader reads a thin Mach-O header and checks that it describes
// a 64-bit little-endian dylib or bundle for want; it returns the number
// and total size of the load commands.
func readMachOHeader(r io.ReaderAt, path string, size int64, want macho.Cpu, goarch string) (ncmds, sizeofcmds uint32, err error) {
	if size < machoHeaderLen {
		return 0, 0, bad(path, "truncated: %d bytes, shorter than a Mach-O header", size)
	}
	var h [machoHeaderLen]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return 0, 0, bad(path, "read Mach-O header: %v", err)
	}
	le := binary.LittleEndian
	if le.Uint32(h[:]) != macho.Magic64 {
		return 0, 0, bad(path, "wrong architecture: not a 64-bit little-endian Mach-O, need %v for %s", want, goarch)
	}
	cpu, typ := macho.Cpu(le.Uint32(h[4:])), macho.Type(le.Uint32(h[12:]))
	if cpu != want {
		return 0, 0, bad(path, "wrong architecture: %v, need %v for %s", cpu, want, goarch)
	}
	if typ != macho.TypeDylib && typ != macho.TypeBundle {
		return 0, 0, bad(path, "not a shared library (%v)", typ)
	}
	return le.Uint32(h[16:]), le.Uint32(h[20:]), nil
}

// checkMachOSegments checks that the load commands, and the segments
// their LC_SEGMENT_64 commands describe, lie inside the image.
func checkMachOSegments(r io.ReaderAt, path string, size int64, ncmds, sizeofcmds uint32) error {
	if !within(machoHeaderLen, uint64(sizeofcmds), size) {
		return bad(path, "truncated: load commands end at byte %d, the file has %d", machoHeaderLen+uint64(sizeofcmds), size)
	}
	cmds := make([]byte, sizeofcmds)
	if _, err := r.ReadAt(cmds, machoHeaderLen); err != nil {
		return bad(path, "read load commands: %v", err)
	}
	le := binary.LittleEndian
	for i, rest := 0, cmds; i < int(ncmds); i++ {
		if len(rest) < 8 {
			return bad(path, "malformed Mach-O: load command %d past sizeofcmds", i)
		}
		cmd, sz := macho.LoadCmd(le.Uint32(rest)), le.Uint32(rest[4:])
		if sz < 8 || int(sz) > len(rest) {
			return bad(path, "malformed Mach-O: load command %d has size %d", i, sz)
		}
		if cmd == macho.LoadCmdSegment64 && sz >= 56 {
			name := strings.TrimRight(string(rest[8:24]), "\x00")
			off, n := le.Uint64(rest[40:]), le.Uint64(rest[48:])
			if !within(off, n, size) {
				return bad(path, "truncated: segment %s ends at byte %d, the file has %d", name, off+n, size)
			}
		}
		rest = rest[sz:]
	}
	return nil
}

// machoInfo collects the libraries and LC_RPATHs a Mach-O library names.
func machoInfo(path string, mf *macho.File) *fileInfo {
	info := &fileInfo{path: path, goos: "darwin"}
	info.needed, _ = mf.ImportedLibraries()
	for _, l := range mf.Loads {
		if rp, ok := l.(*macho.Rpath); ok {
			info.rpaths = append(info.rpaths, rp.Path)
		}
	}
	return info
}

// machoDefined is the set of external symbols a Mach-O library defines in
// a section, without the leading underscore.
func machoDefined(st *macho.Symtab) map[string]bool {
	defined := map[string]bool{}
	for _, s := range st.Syms {
		if s.Type&0x01 != 0 && s.Type&0x0e == 0x0e { // N_EXT, N_SECT
			defined[strings.TrimPrefix(s.Name, "_")] = true
		}
	}
	return defined
}

// identify picks the ABI generation from the symbols a library exports
// (has reports one), or says why the library cannot be used: not mlx-c at
// all (ErrNotMLXC), older than mlx-c 0.4.0 (ErrABI), or missing required
// symbols, all named (ErrSymbol).
func identify(path string, has func(name string) bool) (ABI, error) {
	known := false
	for _, s := range definingSymbols {
		known = known || has(s)
	}
	if !known {
		return ABIUnknown, fmt.Errorf("%w: %q exports none of %s", ErrNotMLXC, path, strings.Join(definingSymbols, ", "))
	}
	var abi ABI
	switch {
	case has(SymABI06):
		abi = ABI06
	case has(SymABI05):
		abi = ABI05
	case has(SymABI04):
		abi = ABI04
	default:
		return ABIUnknown, fmt.Errorf("%w: %q is older than mlx-c 0.4.0 (no %s)", ErrABI, path, SymABI04)
	}
	var missing []string
	for _, b := range bindings {
		if abi < b.min || (b.max != ABIUnknown && abi > b.max) {
			continue
		}
		if !has(b.name) {
			missing = append(missing, b.name)
		}
	}
	if len(missing) > 0 {
		return abi, fmt.Errorf("%w: %q (mlx-c %s): %s", ErrSymbol, path, abi, strings.Join(missing, ", "))
	}
	return abi, nil
}

// coreNames returns the libmlx entries among the libraries a libmlxc
// needs ("libmlx.so", "@rpath/libmlx.dylib", ...).
func (i *fileInfo) coreNames() []string {
	var names []string
	for _, n := range i.needed {
		if b := filepath.Base(n); strings.HasPrefix(b, "libmlx.") {
			names = append(names, n)
		}
	}
	return names
}

// linuxLibDirs approximate the dynamic loader's default folders (the
// ld.so.cache aside).
var linuxLibDirs = []string{
	"/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib",
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
}

// findCore returns where the dynamic loader (after Load's preload) would
// most likely find the needed library name, or "" when it is nowhere in
// the places this approximation knows: the library's folder (preloaded by
// Load on Linux), its RPATH/RUNPATH or LC_RPATHs, the library path
// variables and the default folders.
func (i *fileInfo) findCore(name string, getenv func(string) string) string {
	var cands []string
	if i.goos == "darwin" {
		var unknowable string
		if cands, unknowable = i.darwinCandidates(name, getenv); unknowable != "" {
			return unknowable
		}
	} else {
		cands = i.linuxCandidates(name, getenv)
	}
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return c
		}
	}
	return ""
}

// darwinCandidates lists, in dyld's order, the paths where the needed
// library name may be. When where it is depends on the executable
// (@executable_path), it returns that name or LC_RPATH as unknowable.
func (i *fileInfo) darwinCandidates(name string, getenv func(string) string) (cands []string, unknowable string) {
	dir, base := filepath.Dir(i.path), filepath.Base(name)
	switch {
	case strings.HasPrefix(name, "@loader_path/"):
		cands = append(cands, filepath.Join(dir, strings.TrimPrefix(name, "@loader_path/")))
	case strings.HasPrefix(name, "@rpath/"):
		for _, rp := range i.rpaths {
			if strings.HasPrefix(rp, "@executable_path") {
				return nil, rp // unknowable here; let dyld decide
			}
			rp = strings.Replace(rp, "@loader_path", dir, 1)
			cands = append(cands, filepath.Join(rp, strings.TrimPrefix(name, "@rpath/")))
		}
	case strings.HasPrefix(name, "@"):
		return nil, name // @executable_path: unknowable here
	default:
		cands = append(cands, name)
	}
	for _, v := range []string{"DYLD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH"} {
		for _, d := range filepath.SplitList(getenv(v)) {
			cands = append(cands, filepath.Join(d, base))
		}
	}
	return append(cands, "/usr/local/lib/"+base, "/usr/lib/"+base), ""
}

// linuxCandidates lists, in ld.so's order, the paths where the needed
// library name may be.
func (i *fileInfo) linuxCandidates(name string, getenv func(string) string) []string {
	if strings.ContainsRune(name, '/') {
		return []string{name}
	}
	dir := filepath.Dir(i.path)
	var cands []string
	if name == CoreLibraryName {
		cands = append(cands, filepath.Join(dir, name))
	}
	for _, rp := range i.rpaths {
		rp = strings.NewReplacer("${ORIGIN}", dir, "$ORIGIN", dir).Replace(rp)
		cands = append(cands, filepath.Join(rp, name))
	}
	for _, d := range filepath.SplitList(getenv("LD_LIBRARY_PATH")) {
		cands = append(cands, filepath.Join(d, name))
	}
	for _, d := range linuxLibDirs {
		cands = append(cands, filepath.Join(d, name))
	}
	return cands
}

// checkCore checks, like Check, each libmlx the library needs where the
// loader would find it: a truncated libmlx crashes dlopen just the same.
func (i *fileInfo) checkCore(goarch string, getenv func(string) string) error {
	for _, n := range i.coreNames() {
		p := i.findCore(n, getenv)
		if p == "" || strings.HasPrefix(p, "@") {
			continue
		}
		if _, err := checkFile(p, i.goos, goarch, false); err != nil {
			return fmt.Errorf("%w (needed by %q)", err, i.path)
		}
	}
	return nil
}

// coreHint says how to fix a failed dlopen when a libmlx the library
// needs is in none of the places the loader looks, or returns "".
func (i *fileInfo) coreHint(getenv func(string) string) string {
	for _, n := range i.coreNames() {
		if i.findCore(n, getenv) != "" {
			continue
		}
		if i.goos == "darwin" {
			return fmt.Sprintf("it needs %s, found neither next to it, nor through its LC_RPATHs or DYLD_LIBRARY_PATH: put %s next to it or set DYLD_LIBRARY_PATH to its folder",
				n, filepath.Base(n))
		}
		return fmt.Sprintf("it needs %s, found neither next to it, nor through its RUNPATH, LD_LIBRARY_PATH or the standard folders: put %s next to it or set LD_LIBRARY_PATH to its folder",
			n, n)
	}
	return ""
}
