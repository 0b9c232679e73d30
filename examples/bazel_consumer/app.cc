#include <cstdio>
#include "interceptor/authrefresh.h"
int main() { std::printf("authrefresh %s\n", authrefresh::Version()); }
