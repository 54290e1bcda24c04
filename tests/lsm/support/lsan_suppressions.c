/*
 * lsan_suppressions.c — LeakSanitizer suppressions for the unit test binaries.
 *
 * Criterion's own runner (the parent process that forks the tests) sometimes leaks one
 * 48-byte allocation made inside libcriterion when tests run in parallel (--jobs); LSan then
 * makes the binary exit non-zero although every test passed.  Leaks in our code, which runs in
 * the forked test processes, are still reported: only allocations whose stack is inside
 * libcriterion are ignored.  LSan calls this hook at startup; other builds ignore it.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libcriterion.so\n"; }
