from lis1abm.cli.app import main

main()
