/* The pod sandbox's process: it holds the pod's namespaces and does nothing.
 * It is PID 1 of the sandbox, so it reaps the children it inherits, and it
 * exits 0 on SIGTERM/SIGINT (containerd stops sandboxes with SIGKILL anyway). */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void leave(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
    signal(SIGTERM, leave);
    signal(SIGINT, leave);
    signal(SIGCHLD, reap);
    for (;;)
        pause();
}
