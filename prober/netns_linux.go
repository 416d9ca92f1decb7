// SPDX-License-Identifier: MIT

package prober

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// sameNetnsGo runs fn on a new goroutine whose thread is in the calling
// thread's network namespace (sockets are created in their thread's
// namespace, and a caller may have switched only its own thread, as
// the tests' netns helpers do). done is called when fn has run, or with
// false, without running fn, when that thread could not join the
// namespace (setns needs CAP_SYS_ADMIN): the caller then runs fn itself.
func sameNetnsGo(fn func(), done func(ran bool)) {
	ns, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		done(false)
		return
	}
	netnsGo(ns, fn, func(ran bool) {
		ns.Close()
		done(ran)
	})
}

// netnsGo is sameNetnsGo for the namespace ns (a /proc/.../ns/net file,
// which the caller keeps open until done).
func netnsGo(ns *os.File, fn func(), done func(ran bool)) {
	go func() {
		runtime.LockOSThread()
		var want, have unix.Stat_t
		if unix.Fstat(int(ns.Fd()), &want) != nil || unix.Stat("/proc/thread-self/ns/net", &have) != nil {
			runtime.UnlockOSThread()
			done(false)
			return
		}
		if want.Dev != have.Dev || want.Ino != have.Ino {
			if unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET) != nil {
				runtime.UnlockOSThread()
				done(false)
				return
			}
			// The thread stays locked: it is in another namespace than
			// the rest of the process and ends with this goroutine.
			fn()
			done(true)
			return
		}
		runtime.UnlockOSThread()
		fn()
		done(true)
	}()
}
