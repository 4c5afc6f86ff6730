/* Writing the sweep's JSON lines (the state file, results.jsonl): strings escaped as JSON
   requires, numbers in the shortest form that reads back exactly, NAN as null. Reading them back
   is jansson's. Local and pure but for the writes to f. */
#pragma once
#include <stdio.h>

void rt_json_put_string(FILE *f, const char *s);
void rt_json_put_number(FILE *f, double x);
