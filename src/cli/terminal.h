/* The controlling terminal while a guest's console owns it (bothy run, bothy vm console). */
#ifndef BOTHY_CLI_TERMINAL_H
#define BOTHY_CLI_TERMINAL_H

#include <stdbool.h>

/*
 * Puts stdin's terminal in raw mode (keys go to the guest as typed, Ctrl-C included) when stdin is
 * a tty; @raw_output also turns off output processing. The old mode comes back through
 * cli_terminal_restore(), at exit, and on every fatal signal.
 */
void cli_terminal_raw(bool raw_output);
void cli_terminal_restore(void);

#endif
