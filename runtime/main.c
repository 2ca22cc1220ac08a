/* main.c: main() alone, so test programs can link libnitrt with their own. */
#include "nitrt.h"

int main(int argc, char **argv) { return nitrt_main(argc, argv); }
