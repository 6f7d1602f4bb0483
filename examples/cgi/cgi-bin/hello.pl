#!/usr/bin/perl
# Perl, reading the query string from the environment.
use strict;
use warnings;
my ($name) = ($ENV{QUERY_STRING} // '') =~ /(?:^|&)name=([A-Za-z0-9 ]{1,40})/;
$name //= 'world';
print STDERR "greeting $name\n";   # stderr: a log line of this request
print "Content-Type: text/plain\r\n\r\n";
print "Hello, $name!\n";
