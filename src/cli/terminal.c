/* The terminal: raw while a guest owns it, restored on every way out (cli/terminal.h). */
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "cli/terminal.h"

static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;

void cli_terminal_restore(void)
{
	if (termios_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
		termios_saved = 0;
	}
}

static void fatal_signal(int sig)
{
	cli_terminal_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

void cli_terminal_raw(bool raw_output)
{
	static const int fatal[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	static bool atexit_done;
	struct termios raw;

	if (termios_saved || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return;
	raw = saved_termios;
	raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	if (raw_output)
		raw.c_oflag &= ~OPOST;
	raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag |= CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	termios_saved = 1;
	if (!atexit_done)
		atexit(cli_terminal_restore);
	atexit_done = true;
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		struct sigaction sa = { .sa_handler = fatal_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(fatal[i], &sa, NULL);
	}
	tcsetattr(STDIN_FILENO, TCSANOW, &raw);
}
