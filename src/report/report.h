/*
 * report: `outpost report`, totals and tables over the record files the
 * recording plugins write (outbound_logger's JSON lines, accounting_files'
 * TSV/CSV files, their archives), as text and as one HTML file.
 */
#ifndef OUTPOST_REPORT_H
#define OUTPOST_REPORT_H

/* argv[0] is "report". An exit status (sysexits). */
int	report_main(int argc, char **argv);

#endif
