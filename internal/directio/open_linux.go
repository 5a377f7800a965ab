package directio

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openDirect opens f's file a second time with O_DIRECT, through its
// /proc/self/fd link: the same inode whatever happened to its name, and no
// path to resolve again. The alignments come from statx(STATX_DIOALIGN)
// where the kernel reports them (Linux 6.1+), else the page size, which
// every file system that does direct I/O accepts.
func openDirect(f *os.File) (*os.File, int, int, error) {
	mem, off := os.Getpagesize(), os.Getpagesize()
	var st unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st); err == nil && st.Mask&unix.STATX_DIOALIGN != 0 {
		if st.Dio_mem_align == 0 || st.Dio_offset_align == 0 {
			return nil, 0, 0, fmt.Errorf("directio: %s: no direct I/O on this file system", f.Name())
		}
		mem, off = max(mem, int(st.Dio_mem_align)), max(off, int(st.Dio_offset_align))
	}
	d, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil, 0, 0, err
	}
	return d, mem, off, nil
}
