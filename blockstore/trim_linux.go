package blockstore

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// madvPageout is MADV_PAGEOUT (Linux 5.4+), missing from package syscall.
const madvPageout = 21

// releaseMappedPages asks the kernel to reclaim the resident pages of
// Badger's value-log and memtable-log mappings in dir. Badger writes block bytes through a
// shared mmap that it never unmaps, so without this every imported byte
// stays in the process's RSS (as clean page cache, after a sync) and a
// 1 GiB import shows 1 GiB RSS. MADV_PAGEOUT is only a hint: it never
// changes memory contents, so it is harmless even if Badger remaps a range
// between our reading /proc/self/maps and the call; dirty pages are simply
// skipped, which is why callers sync first.
func releaseMappedPages(dir string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	for line := range strings.Lines(string(maps)) {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		path := strings.Join(f[5:], " ")
		if !(strings.HasSuffix(path, ".vlog") || strings.HasSuffix(path, ".mem")) || filepath.Dir(path) != abs {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), madvPageout)
	}
}

// unmapRead takes the pages wholly inside v out of this process's page
// tables. v must be a value Badger returned from a shared mmap of a
// value-log file, and the call must happen while Badger still holds that
// file (inside Item.Value's callback): then the range cannot have been
// unmapped or reused, and MADV_DONTNEED on a shared file mapping only
// drops the mapping. The data stays in the page cache, so a second read is
// still served from memory, but a 1 GiB file streamed out of the store no
// longer adds 1 GiB of RssFile to the daemon. Partial pages at either end
// are left: they may belong to neighbouring values.
func unmapRead(v []byte) {
	page := uintptr(os.Getpagesize())
	if uintptr(len(v)) < 2*page {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
	lo := (p + page - 1) &^ (page - 1)
	hi := (p + uintptr(len(v))) &^ (page - 1)
	if hi > lo {
		syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, syscall.MADV_DONTNEED)
	}
}
