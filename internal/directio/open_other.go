//go:build !linux

package directio

import (
	"errors"
	"os"
)

func openDirect(*os.File) (*os.File, int, int, error) {
	return nil, 0, 0, errors.New("directio: not on this system")
}
